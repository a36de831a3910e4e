-- A customer's own test file: another of their datasets whose usable rows form the whole test split.
ALTER TABLE datasets ADD COLUMN test_dataset_id TEXT;
