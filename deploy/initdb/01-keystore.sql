-- The key store lives in a database of its own, apart from the data (DESIGN: a backup of the
-- data database never holds the keys).
CREATE DATABASE minimaker_keys OWNER minimaker;
