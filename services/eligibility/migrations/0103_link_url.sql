-- migrate:up
-- Where the procedure is offered (the link on the authority's page), for the public page of each authority.
ALTER TABLE procedure_link ADD COLUMN url text;

-- migrate:down
