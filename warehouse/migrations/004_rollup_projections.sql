-- Projections on the rollups ordered by repo / key then time: a `repoId=` or `repoAiApiKeyId=`
-- filter reads that repo's or key's granules instead of the workspace's whole range.
-- SummingMergeTree admits projections only with deduplicate_merge_projection_mode set
-- ('rebuild': a merge rebuilds the projection from the merged rows, so it stays exact).
-- MATERIALIZE PROJECTION is a background mutation for parts written before this migration;
-- until it is done the query reads those parts through the main key (results are the same).
ALTER TABLE usage_minute MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE usage_minute ADD PROJECTION IF NOT EXISTS by_repo (SELECT * ORDER BY (repo_id, bucket));
ALTER TABLE usage_minute ADD PROJECTION IF NOT EXISTS by_key (SELECT * ORDER BY (repo_ai_api_key_id, bucket));
ALTER TABLE usage_minute MATERIALIZE PROJECTION by_repo;
ALTER TABLE usage_minute MATERIALIZE PROJECTION by_key;
ALTER TABLE usage_daily MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE usage_daily ADD PROJECTION IF NOT EXISTS by_repo (SELECT * ORDER BY (repo_id, bucket));
ALTER TABLE usage_daily ADD PROJECTION IF NOT EXISTS by_key (SELECT * ORDER BY (repo_ai_api_key_id, bucket));
ALTER TABLE usage_daily MATERIALIZE PROJECTION by_repo;
ALTER TABLE usage_daily MATERIALIZE PROJECTION by_key;
