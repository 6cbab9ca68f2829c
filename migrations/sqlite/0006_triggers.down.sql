DROP TABLE IF EXISTS schedule_runs;
DROP TABLE IF EXISTS bot_schedules;
DROP TABLE IF EXISTS bot_webhooks;
