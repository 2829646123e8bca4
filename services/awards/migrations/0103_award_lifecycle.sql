-- migrate:up
-- The life after the first decision: probation and re-review after a rejection, grace before a revocation,
-- hand-over between reviewers, evidence of what counted, existing holders.

-- Timers are rows: a due time in the database, picked up by whichever instance runs after it passed.
ALTER TABLE authority_standing
    ADD COLUMN probation               boolean     NOT NULL DEFAULT false,
    ADD COLUMN rereview_due_at         timestamptz,
    ADD COLUMN grace_until             timestamptz,
    ADD COLUMN grace_below             boolean     NOT NULL DEFAULT false,
    ADD COLUMN grace_recovered_noticed boolean     NOT NULL DEFAULT false;
CREATE INDEX authority_standing_rereview_due ON authority_standing (rereview_due_at) WHERE rereview_due_at IS NOT NULL;
CREATE INDEX authority_standing_grace_until ON authority_standing (grace_until) WHERE grace_until IS NOT NULL;

-- A revocation case closes by itself when the count recovers first ('closed', with its reason).
ALTER TABLE review_case DROP CONSTRAINT review_case_status_check;
ALTER TABLE review_case ADD CONSTRAINT review_case_status_check
    CHECK (status IN ('open', 'claimed', 'decided', 'closed'));
ALTER TABLE review_case DROP CONSTRAINT review_case_check1;
ALTER TABLE review_case ADD CONSTRAINT review_case_claimed_has_claimant
    CHECK (status <> 'claimed' OR claimed_by IS NOT NULL);
DROP INDEX review_case_one_undecided;
CREATE UNIQUE INDEX review_case_one_undecided ON review_case (authority_id) WHERE status IN ('open', 'claimed');
-- The counted procedures when the case opened (from eligibility's API), and when they were read.
ALTER TABLE review_case ADD COLUMN procedures_at_opening jsonb, ADD COLUMN evidence_at timestamptz;
CREATE INDEX review_case_without_evidence ON review_case (opened_at) WHERE procedures_at_opening IS NULL;

-- Leads may release and assign any case.
ALTER TABLE reviewer ADD COLUMN lead boolean NOT NULL DEFAULT false;

-- Holders imported from before the system: no case of ours.
ALTER TABLE award ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE award ADD COLUMN imported boolean NOT NULL DEFAULT false;
ALTER TABLE award ADD COLUMN revoked_on date;

-- migrate:down
