-- When a machine translation was last served: the least recently used are
-- evicted past OVASABI_TRANSLATION_MEMORY_MAX (overrides never). Updated at
-- most hourly per entry, so that serving stays a read.
ALTER TABLE service_translation_memory ADD COLUMN last_used_at TIMESTAMPTZ;
