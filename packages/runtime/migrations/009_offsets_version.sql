-- A fresh random id on every write that moves a partition's progress from outside the batch in flight
-- (a batch, an operator's replay, a rebuild's switch, an operator's retry of a parked event). Write-behind
-- folds rows outside the flushing transaction: the flush compares the offset and this id with what it read
-- when the partition entered its cache, and starts over from the stored offset if anyone wrote meanwhile.
ALTER TABLE projector_offsets ADD COLUMN version uuid NOT NULL DEFAULT gen_random_uuid();
