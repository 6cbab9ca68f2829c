DROP TABLE IF EXISTS instance_settings;
DROP TABLE IF EXISTS login_attempts;
