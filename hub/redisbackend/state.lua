-- Reads the log's state: {epoch, seq}, epoch '' if there is no log.
-- KEYS: 1 epoch, 2 seq
-- ARGV: 1 new epoch, 2 seen seq, 3 seen epoch, 4 '1' to create a log if
--       there is none
-- A log whose sequence is below a position this instance has seen in it
-- rolled back (Redis restarted from an older snapshot, or failed over to a
-- lagging replica): it gets a new epoch, so that every instance and every
-- client treats it as the new log it is.
local epoch = redis.call('GET', KEYS[1])
local seq = redis.call('GET', KEYS[2]) or '0'
if epoch and epoch == ARGV[3] and tonumber(seq) < tonumber(ARGV[2]) then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
if not epoch then
  if ARGV[4] ~= '1' then
    return {'', seq}
  end
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
return {epoch, seq}
