#!/usr/bin/env python3
"""Reads ferryctl's --json output back with protobuf's own proto3 JSON parser.

Run by ferryctl-calls.test.ts. STUBS holds Ferry's messages compiled by
Debian's protoc from proto/ferry/v1 (nothing of Ferry's code). Each stdin
line is {"type": "ferry.v1.Message", "json": "<what ferryctl printed>"};
json_format.Parse refuses unknown names, wrong types and malformed
Timestamps or Durations. Each message is printed again with
json_format.MessageToJson (canonical proto3 JSON, defaults omitted), one
JSON line per input line, for the test to compare with ferryctl's own.
Exits 1 with the parser's message on the first refusal, 2 on bad usage.

usage: proto3_json.py STUBS < lines
"""
import json
import sys

if len(sys.argv) != 2:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
sys.path.insert(0, sys.argv[1])

from google.protobuf import descriptor_pool, json_format  # noqa: E402
from google.protobuf import message_factory  # noqa: E402

from ferry.v1 import host_pb2, migration_pb2  # noqa: E402,F401  (registers the messages)


def message_class(name):
    descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(descriptor_pool.Default()).GetPrototype(descriptor)


for line in sys.stdin:
    item = json.loads(line)
    try:
        message = json_format.Parse(item["json"], message_class(item["type"])())
    except json_format.ParseError as err:
        print(f"{item['type']}: {err}\n{item['json']}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(json.loads(json_format.MessageToJson(message))))
