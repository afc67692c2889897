-- Frees topics that got no event for a while: their stream, index list and
-- trimmed mark. Each freed topic's last position is kept in a fixed set of
-- 4096 buckets (by the topic's SHA-1), so that a client resuming from before
-- it still learns that its history is gone; a bucket shared with another
-- freed topic can only cause an unneeded reset, never silence.
-- KEYS: 1 topics sorted set, 2 trimmed hash, 3 tombs hash
-- ARGV: 1 idle cutoff (ms), 2 topic stream key prefix, 3 index list key
--       prefix, 4 most topics to free in this call
-- Returns how many topics it freed.
local old = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[4])
for _, topic in ipairs(old) do
  local last = redis.call('LINDEX', ARGV[3] .. topic, -1)
  if last then
    local id = string.match(last, ' (.+)$')
    local bucket = string.sub(redis.sha1hex(topic), 1, 3)
    local cur = redis.call('HGET', KEYS[3], bucket)
    if not cur or tonumber(string.match(cur, '^(%d+)-')) < tonumber(string.match(id, '^(%d+)-')) then
      redis.call('HSET', KEYS[3], bucket, id)
    end
  end
  redis.call('DEL', ARGV[2] .. topic, ARGV[3] .. topic)
  redis.call('HDEL', KEYS[2], topic)
  redis.call('ZREM', KEYS[1], topic)
end
return #old
