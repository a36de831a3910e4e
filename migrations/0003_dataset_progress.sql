-- How far validation has read into a dataset's file, for the live progress bar.
ALTER TABLE datasets ADD COLUMN validated_bytes BIGINT NOT NULL DEFAULT 0;
