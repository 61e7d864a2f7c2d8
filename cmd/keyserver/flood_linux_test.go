package main

import (
	"bufio"
	"bytes"
	"context"
	be "encoding/binary"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// rssKB reads a process's resident set size from /proc.
func rssKB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// floodConn is one raw HTTP/2 connection that opens streams announcing a
// message it never finishes sending.
type floodConn struct {
	c      net.Conn
	fr     *http2.Framer
	wmu    sync.Mutex
	window sync.Cond // on mu: win grew
	mu     sync.Mutex
	win    int64        // connection send window
	ended  atomic.Int64 // streams the server ended, each counted once
	seen   map[uint32]bool
	closed chan struct{}
}

func dialFlood(t *testing.T, addr string) *floodConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &floodConn{c: c, fr: http2.NewFramer(c, bufio.NewReader(c)), win: 65535, seen: map[uint32]bool{}, closed: make(chan struct{})}
	f.window.L = &f.mu
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := f.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	go f.read()
	return f
}

// read handles the server's frames: settings acks, window updates, and
// the end of each stream (RST_STREAM, or trailers with END_STREAM).
func (f *floodConn) read() {
	defer close(f.closed)
	defer func() { f.mu.Lock(); f.win = 1 << 62; f.window.Broadcast(); f.mu.Unlock() }()
	for {
		fr, err := f.fr.ReadFrame()
		if err != nil {
			return
		}
		switch fr := fr.(type) {
		case *http2.SettingsFrame:
			if !fr.IsAck() {
				f.wmu.Lock()
				_ = f.fr.WriteSettingsAck()
				f.wmu.Unlock()
			}
		case *http2.WindowUpdateFrame:
			if fr.StreamID == 0 {
				f.mu.Lock()
				f.win += int64(fr.Increment)
				f.window.Broadcast()
				f.mu.Unlock()
			}
		case *http2.RSTStreamFrame:
			f.end(fr.StreamID)
		case *http2.HeadersFrame:
			if fr.StreamEnded() {
				f.end(fr.StreamID)
			}
		case *http2.GoAwayFrame:
			return
		}
	}
}

func (f *floodConn) end(id uint32) {
	if !f.seen[id] { // only read's goroutine touches seen
		f.seen[id] = true
		f.ended.Add(1)
	}
}

// send writes a DATA frame, within the connection's flow-control window.
func (f *floodConn) send(stream uint32, b []byte) error {
	f.mu.Lock()
	for f.win < int64(len(b)) {
		f.window.Wait()
	}
	f.win -= int64(len(b))
	f.mu.Unlock()
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.fr.WriteData(stream, false, b)
}

// flood opens n streams, each announcing a 60,000-byte message and
// sending 59,000 bytes of it.
func (f *floodConn) flood(n int, authority string) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := 0; i < n; i++ {
		id := uint32(2*i + 1)
		hb.Reset()
		for _, h := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", keyserverv1.KeyService_GetKeyAndSignalization_FullMethodName},
			{":authority", authority}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
		}
		f.wmu.Lock()
		err := f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true})
		f.wmu.Unlock()
		if err != nil {
			return
		}
		msg := make([]byte, 5+59000)
		be.BigEndian.PutUint32(msg[1:5], 60000)
		for off := 0; off < len(msg); off += 16384 {
			if err := f.send(id, msg[off:min(off+16384, len(msg))]); err != nil {
				return
			}
		}
	}
}

// TestProcess_GRPCStreamFlood (hardening defect 2): four connections each
// open 3,000 streams that announce a 60,000-byte message and send 59,000
// bytes of it. The server's resident memory stays within 200 MB of idle,
// a normal client is served throughout, and every flooding stream is
// ended by the server (refused, or past the request deadline) instead of
// being held. Connections that only send the HTTP/2 preface are closed
// after the handshake timeout.
func TestProcess_GRPCStreamFlood(t *testing.T) {
	p := startProc(t, t.TempDir(), "--request-timeout", "3s", "--read-header-timeout", "2s")
	cc, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := keyserverv1.NewKeyServiceClient(cc)
	get := func(content string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := client.GetKeyAndSignalization(ctx, &keyserverv1.GetKeyAndSignalizationRequest{TenantId: "NAG0000",
			DrmContent: &keyserverv1.DrmContent{DrmContentId: content, Profile: &keyserverv1.Profile{DistributionMode: keyserverv1.DistributionMode_VOD}}})
		return err
	}
	if err := get("before"); err != nil {
		t.Fatal(err)
	}
	idle := rssKB(t, p.cmd.Process.Pid)

	const conns, streams = 4, 3000
	fl := make([]*floodConn, conns)
	for i := range fl {
		fl[i] = dialFlood(t, p.grpc)
		defer fl[i].c.Close()
	}
	var wg sync.WaitGroup
	for _, f := range fl {
		wg.Go(func() { f.flood(streams, p.grpc) })
	}
	// Preface-only connections, alongside.
	lazy := make([]net.Conn, 200)
	for i := range lazy {
		c, err := net.Dial("tcp", p.grpc)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
			t.Fatal(err)
		}
		lazy[i] = c
	}

	// While the flood runs: sample the server's memory, and ask for keys.
	peak, served := idle, 0
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; ; n++ {
		if r := rssKB(t, p.cmd.Process.Pid); r > peak {
			peak = r
		}
		if n%10 == 0 {
			if err := get("during-" + strconv.Itoa(n)); err != nil {
				t.Errorf("a normal request during the flood: %v", err)
			} else {
				served++
			}
		}
		total := int64(0)
		for _, f := range fl {
			total += f.ended.Load()
		}
		if total >= conns*streams || time.Now().After(deadline) {
			t.Logf("streams ended by the server: %d of %d", total, conns*streams)
			if total < conns*streams {
				t.Errorf("after 20 s, %d of %d flooding streams are still held open by the server", conns*streams-total, conns*streams)
			}
			break
		}
		time.Sleep(100 * time.Millisecond) // sampling interval, not synchronization
	}
	wg.Wait()
	t.Logf("server RSS: idle %d MB, peak during the flood %d MB; %d normal requests served during it", idle>>10, peak>>10, served)
	if peak-idle > 200<<10 {
		t.Errorf("server RSS grew by %d MB under the flood, want under 200 MB", (peak-idle)>>10)
	}
	if served == 0 {
		t.Error("no normal request was served during the flood")
	}
	// The preface-only connections are closed by the server (handshake
	// timeout 2 s): a read ends with EOF or a reset, not our deadline.
	for i, c := range lazy {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("preface-only connection %d still open after the handshake timeout", i)
		}
	}
	if err := get("after"); err != nil {
		t.Fatalf("after the flood: %v", err)
	}
}

// TestProcess_GRPCRapidReset: streams that a client opens and resets at
// once give their in-flight slot back when they end, so 3,000 of them
// against --max-in-flight 16 leave the server serving (a slot held until
// the deadline would refuse everyone for its length).
func TestProcess_GRPCRapidReset(t *testing.T) {
	p := startProc(t, t.TempDir(), "--max-in-flight", "16", "--request-timeout", "60s")
	f := dialFlood(t, p.grpc)
	defer f.c.Close()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := 0; i < 3000; i++ {
		id := uint32(2*i + 1)
		hb.Reset()
		for _, h := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", keyserverv1.KeyService_GetKeyAndSignalization_FullMethodName},
			{":authority", p.grpc}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
		}
		f.wmu.Lock()
		err := f.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true})
		if err == nil {
			err = f.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		f.wmu.Unlock()
		if err != nil {
			break // the server may close a connection that misbehaves: also fine
		}
	}
	cc, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := keyserverv1.NewKeyServiceClient(cc)
	// The slots come back as each reset stream ends (asynchronously, on
	// the server): a request may still find them taken for a moment, but
	// not for the 60 s deadline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.GetKeyAndSignalization(ctx, &keyserverv1.GetKeyAndSignalizationRequest{TenantId: "NAG0000",
			DrmContent: &keyserverv1.DrmContent{DrmContentId: "after-resets", Profile: &keyserverv1.Profile{DistributionMode: keyserverv1.DistributionMode_VOD}}})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after 3,000 reset streams the server still refuses: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // retry interval of a polled outcome
	}
}
