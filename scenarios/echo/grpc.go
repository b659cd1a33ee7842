package echo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The gRPC echo service (echo.proto beside this file):
//
//	service meshbench.echo.v1.Echo {
//	  rpc Unary(Payload) returns (Payload);                // the request, echoed
//	  rpc Stream(stream Payload) returns (stream Payload); // each message, echoed
//	}
//
// Messages are echoed as the bytes they arrived as (a raw codec: no
// protobuf decoding), so any client message type round-trips and the server
// does no per-message work beyond a copy. Request metadata
// "echo-grpc-status: N" (0..16) ends the call with that status instead, so
// tests and load runs can make failures on purpose.

// GRPCService and the full method names clients call.
const (
	GRPCService = "meshbench.echo.v1.Echo"
	GRPCUnary   = "/" + GRPCService + "/Unary"
	GRPCStream  = "/" + GRPCService + "/Stream"
	// GRPCStatusKey is the request metadata key that chooses the status.
	GRPCStatusKey = "echo-grpc-status"
	// GRPCDelayKey is the request metadata key that delays the answer (a
	// Go duration, at most MaxDelay), for timeout tests.
	GRPCDelayKey = "echo-grpc-delay"
)

// RawCodec passes gRPC messages through as bytes: Marshal takes a []byte
// (or *[]byte), Unmarshal fills a *[]byte with a copy (the transport reuses
// its buffer). Clients use it with grpc.ForceCodec to send and receive raw
// messages (meshload and the tests).
type RawCodec struct{}

func (RawCodec) Name() string { return "proto" }

func (RawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("echo: raw codec cannot marshal %T", v)
}

func (RawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("echo: raw codec cannot unmarshal into %T", v)
	}
	*m = append((*m)[:0], data...)
	return nil
}

// NewGRPCServer returns a gRPC server with the echo service registered,
// counting calls in requests (may be nil). The echo's own port uses it;
// tests that need the service behind TLS serve it themselves (opts adds
// grpc.Creds, for instance).
func NewGRPCServer(requests *atomic.Uint64, opts ...grpc.ServerOption) *grpc.Server {
	if requests == nil {
		requests = new(atomic.Uint64)
	}
	opts = append([]grpc.ServerOption{grpc.ForceServerCodec(RawCodec{}), grpc.MaxRecvMsgSize(MaxSize), grpc.MaxSendMsgSize(MaxSize)}, opts...)
	g := grpc.NewServer(opts...)
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: GRPCService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Unary",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				requests.Add(1)
				var m []byte
				if err := dec(&m); err != nil {
					return nil, err
				}
				if err := chosenStatus(ctx); err != nil {
					return nil, err
				}
				return m, nil
			},
		}},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Stream",
			ServerStreams: true,
			ClientStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				requests.Add(1)
				if err := chosenStatus(stream.Context()); err != nil {
					return err
				}
				for {
					var m []byte
					err := stream.RecvMsg(&m)
					if errors.Is(err, io.EOF) {
						return nil
					}
					if err != nil {
						return err
					}
					if err := stream.SendMsg(m); err != nil {
						return err
					}
				}
			},
		}},
		Metadata: "echo.proto",
	}, nil)
	return g
}

// chosenStatus is the status the request's metadata asks for, nil for OK,
// after the delay it asks for (the call's own deadline cuts the wait).
func chosenStatus(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if d := md.Get(GRPCDelayKey); len(d) > 0 {
		wait, err := time.ParseDuration(d[0])
		if err != nil || wait < 0 || wait > MaxDelay {
			return status.Errorf(codes.InvalidArgument, "bad %s=%q: want a duration up to %v", GRPCDelayKey, d[0], MaxDelay)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	v := md.Get(GRPCStatusKey)
	if len(v) == 0 {
		return nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 || n > 16 {
		return status.Errorf(codes.InvalidArgument, "bad %s=%q: want a gRPC status code in 0..16", GRPCStatusKey, v[0])
	}
	if n == 0 {
		return nil
	}
	return status.Error(codes.Code(n), "echo: status chosen by "+GRPCStatusKey)
}
