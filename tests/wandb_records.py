"""Reads the records of a W&B offline run file (`run-<id>.wandb`), for tests.

The file is W&B's LevelDB-style log: a 7-byte header (`:W&B`, magic 0xBEE1, version 0), then
32 KiB blocks of chunks, each `crc32 (4) | length (2) | type (1) | data`, where type 1 is a whole
record and 2, 3, 4 are the first, middle and last pieces of a record split across blocks, and a
block's last < 7 bytes are padding. Each record is a `wandb_internal_pb2.Record`.
"""

import struct
import zlib

from wandb.proto import wandb_internal_pb2

HEADER = struct.Struct("<4sHB")
CHUNK = struct.Struct("<IHB")
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path):
    """Every record of the offline run file at `path`, in order, checksums verified."""
    with open(path, "rb") as f:
        data = f.read()
    ident, magic, version = HEADER.unpack_from(data)
    if (ident, magic, version) != (b":W&B", 0xBEE1, 0):
        raise ValueError(f"{path} is not a W&B run file: header {(ident, magic, version)}")
    records, pending, offset = [], None, HEADER.size
    while offset + CHUNK.size <= len(data):
        room = BLOCK - offset % BLOCK
        if room < CHUNK.size:  # padding at the end of a block
            offset += room
            continue
        checksum, length, kind = CHUNK.unpack_from(data, offset)
        offset += CHUNK.size
        if kind == 0 and length == 0:  # zero padding
            offset += room - CHUNK.size
            continue
        chunk = data[offset:offset + length]
        offset += length
        if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != checksum:
            raise ValueError(f"{path}: bad checksum at byte {offset - length}")
        if kind == FULL:
            records.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            records.append(pending + chunk)
            pending = None
        else:
            raise ValueError(f"{path}: unknown chunk type {kind} at byte {offset - length}")
    parsed = []
    for raw in records:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        parsed.append(record)
    return parsed
