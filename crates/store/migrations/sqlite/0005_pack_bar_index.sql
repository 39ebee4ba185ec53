-- PostgreSQL only (its primary key's fill factor); SQLite has no such setting. The step exists
-- on both backends so that both report the same schema version.
SELECT 1;
