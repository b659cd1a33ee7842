package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshbench/meshbench/loadgen/internal/result"
)

// gRPC (Options.GRPC): unary calls of Options.GRPCMethod with Options.Body
// as the request message, sent as raw bytes (rawCodec) so any service's
// message can be replayed and nothing is encoded per call. One
// grpc.ClientConn per Conn, so each meshload connection is one HTTP/2
// connection (h2c for http://, TLS with ALPN h2 for https://, mTLS with a
// client certificate); Options.Streams workers share it. Do returns the
// call's gRPC status code (0 = OK) where an HTTP Conn returns the HTTP
// status: a run's -expect then names gRPC codes. A call that could not be
// made at all also ends in a status (UNAVAILABLE for a refused connection,
// DEADLINE_EXCEEDED past Timeout), as gRPC reports it to applications and
// as Istio and Linkerd count it; only a Conn used after Close returns an
// error.

// rawCodec sends and receives messages as the bytes given.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return nil, fmt.Errorf("meshload client: raw codec cannot marshal %T", v)
}

func (rawCodec) Unmarshal(_ []byte, v any) error {
	if _, ok := v.(*discard); ok {
		return nil // the reply is read and dropped
	}
	return fmt.Errorf("meshload client: raw codec cannot unmarshal into %T", v)
}

// discard is the reply message: its bytes are not kept.
type discard struct{}

type grpcConn struct {
	p      *prepared
	cc     *grpc.ClientConn
	method string
	md     metadata.MD
	closed atomic.Bool
}

func newGRPC(p *prepared, method string) (*grpcConn, error) {
	if !strings.HasPrefix(method, "/") || strings.Count(method, "/") != 2 {
		return nil, fmt.Errorf("meshload client: gRPC method %q: want /package.Service/Method", method)
	}
	opts := []grpc.DialOption{
		grpc.WithUserAgent(p.userAgent),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})),
	}
	if p.https {
		// The TLS credentials carry the URL's host name (SNI and
		// verification), and gRPC takes :authority from them; it refuses
		// a different one beside.
		if p.host != p.url.Host {
			return nil, fmt.Errorf("meshload client: a Host header (%q) with https:// and gRPC: the authority is the URL's host", p.host)
		}
		tc := p.tls.Clone()
		tc.NextProtos = []string{"h2"}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority(p.host))
	}
	cc, err := grpc.NewClient("passthrough:///"+p.addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("meshload client: %w", err)
	}
	md := metadata.MD{}
	for k, vv := range p.header {
		if strings.EqualFold(k, "User-Agent") {
			continue
		}
		md[strings.ToLower(k)] = append(md[strings.ToLower(k)], vv...)
	}
	return &grpcConn{p: p, cc: cc, method: method, md: md}, nil
}

func (c *grpcConn) Do() (int, error) {
	if c.closed.Load() {
		return 0, errClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.p.timeout)
	defer cancel()
	if len(c.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, c.md)
	}
	var reply discard
	err := c.cc.Invoke(ctx, c.method, c.p.body, &reply)
	if err == nil {
		return 0, nil
	}
	if c.closed.Load() {
		return 0, errClosed
	}
	if st, ok := status.FromError(err); ok {
		return int(st.Code()), nil
	}
	return 0, &kindError{result.ErrProtocol, err}
}

// Reconnects is not tracked for gRPC: the ClientConn reconnects by itself.
func (c *grpcConn) Reconnects() uint64 { return 0 }

func (c *grpcConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if err := c.cc.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
