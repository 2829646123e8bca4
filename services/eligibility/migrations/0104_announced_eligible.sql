-- migrate:up
-- The column holds the side of the threshold last announced in an event, not whether the count is eligible now
-- (that is count >= threshold): its name says so.
ALTER TABLE authority_count RENAME COLUMN eligible TO announced_eligible;

-- migrate:down
ALTER TABLE authority_count RENAME COLUMN announced_eligible TO eligible;
