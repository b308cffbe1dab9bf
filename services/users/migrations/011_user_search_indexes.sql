-- The users list's sort by nick name: the keyset order (lower nick name, then id) within a tenant, so a
-- page reads its rows in index order instead of sorting all of the tenant's users.
CREATE INDEX users_nick_name_sort_idx ON users (instance_id, lower(coalesce(nick_name, '')), id);
-- The phone filter (equals ignoring case, the default), a point lookup like the e-mail's.
CREATE INDEX users_phone_idx ON users (instance_id, lower(phone));
