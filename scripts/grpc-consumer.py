#!/usr/bin/env python3
"""A back-office consumer of Ovasabi Edge's leads feed, built from the
server's gRPC reflection alone (no .proto, no generated code):

    pip install grpcio grpcio-reflection
    scripts/grpc-consumer.py --addr 127.0.0.1:50051 --token "$TOKEN" --consumer crm-sync

It follows `ovasabi.edge.v1.Leads/Follow` as the named consumer, prints each
record as a JSON line, and acknowledges it (`Leads/Ack`) once printed: run
again, it resumes after the last record it acknowledged. `--count N` stops
after N records.
"""

import argparse
import json
import sys

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50051")
    parser.add_argument("--token", required=True, help="the admin or service token")
    parser.add_argument("--consumer", default="python-consumer")
    parser.add_argument("--type", action="append", default=[], help="only records of this type")
    parser.add_argument("--count", type=int, default=0, help="stop after this many records")
    args = parser.parse_args()

    channel = grpc.insecure_channel(args.addr)
    pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    leads = pool.FindServiceByName("ovasabi.edge.v1.Leads")
    follow = leads.FindMethodByName("Follow")
    ack = leads.FindMethodByName("Ack")
    FollowRequest = message_factory.GetMessageClass(follow.input_type)
    Record = message_factory.GetMessageClass(follow.output_type)
    AckRequest = message_factory.GetMessageClass(ack.input_type)
    AckResponse = message_factory.GetMessageClass(ack.output_type)
    metadata = [("authorization", f"Bearer {args.token}")]

    follow_call = channel.unary_stream(
        "/ovasabi.edge.v1.Leads/Follow",
        request_serializer=FollowRequest.SerializeToString,
        response_deserializer=Record.FromString,
    )
    ack_call = channel.unary_unary(
        "/ovasabi.edge.v1.Leads/Ack",
        request_serializer=AckRequest.SerializeToString,
        response_deserializer=AckResponse.FromString,
    )
    seen = 0
    stream = follow_call(
        FollowRequest(consumer=args.consumer, types=args.type), metadata=metadata
    )
    try:
        for record in stream:
            print(
                json.dumps(
                    {
                        "position": record.position,
                        "type": record.type,
                        "campaign": record.campaign,
                        "payload": json.loads(record.payload_json),
                    }
                ),
                flush=True,
            )
            ack_call(AckRequest(consumer=args.consumer, position=record.position), metadata=metadata)
            seen += 1
            if args.count and seen >= args.count:
                stream.cancel()
                break
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.CANCELLED and args.count and seen >= args.count:
            return 0
        code = dict(error.trailing_metadata() or ()).get("ovasabi-code", "")
        print(f"{error.code().name} {code}: {error.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
