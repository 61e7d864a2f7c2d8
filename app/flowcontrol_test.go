package app_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/keyserver/keyserver/app"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	"github.com/keyserver/keyserver/app/apptest"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// TestGRPC_NoFlowControlPings: the gRPC server runs with static
// flow-control windows, so a connection that carries one request at a time
// (an encoder's) gets its answers without the server probing bandwidth
// with a PING (and a WINDOW_UPDATE) per request. Spoken over a raw HTTP/2
// connection so that every frame the server sends is seen.
func TestGRPC_NoFlowControlPings(t *testing.T) {
	env := apptest.Start(t, app.Config{})
	conn, err := net.Dial("tcp", env.GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	msg, err := proto.Marshal(&keyserverv1.GetKeyAndSignalizationRequest{
		TenantId: "NAG0000",
		DrmContent: &keyserverv1.DrmContent{
			DrmContentId: "flow-control",
			Profile:      &keyserverv1.Profile{DistributionMode: keyserverv1.DistributionMode_VOD},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	body = append(body, msg...)

	var hdr bytes.Buffer
	enc := hpack.NewEncoder(&hdr)
	pings, answers := 0, 0
	for i := range 5 {
		stream := uint32(2*i + 1)
		hdr.Reset()
		for _, f := range [][2]string{
			{":method", "POST"}, {":scheme", "http"}, {":authority", env.GRPCAddr},
			{":path", "/keyserver.v1.KeyService/GetKeyAndSignalization"},
			{"content-type", "application/grpc"}, {"te", "trailers"},
		} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: hdr.Bytes(), EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		if err := fr.WriteData(stream, true, body); err != nil {
			t.Fatal(err)
		}
		// Read until this stream's trailers (HEADERS with END_STREAM).
		var data int
		for done := false; !done; {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					if err := fr.WriteSettingsAck(); err != nil {
						t.Fatal(err)
					}
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					pings++
					if err := fr.WritePing(true, f.Data); err != nil {
						t.Fatal(err)
					}
				}
			case *http2.DataFrame:
				if f.StreamID == stream {
					data += len(f.Data())
				}
			case *http2.HeadersFrame:
				done = f.StreamID == stream && f.StreamEnded()
			case *http2.GoAwayFrame, *http2.RSTStreamFrame:
				t.Fatalf("request %d: server sent %v", i, f)
			}
		}
		if data > 5 {
			answers++
		}
	}
	if answers != 5 {
		t.Fatalf("%d of 5 requests got an answer body", answers)
	}
	if pings != 0 {
		t.Errorf("server sent %d PINGs for 5 sequential requests, want 0 (static flow-control windows)", pings)
	}
}
