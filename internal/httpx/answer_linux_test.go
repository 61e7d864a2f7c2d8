package httpx

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// corkServer serves answers of n bytes (base64 text) with WriteAnswer on
// 127.0.0.1:0, as keyRoute does, and reports on corkState whether each
// answer's connection was still corked once WriteAnswer returned.
func corkServer(t *testing.T) (addr string, answer func(n int) []byte, corkState chan bool) {
	t.Helper()
	raw := make([]byte, 32<<10)
	_, _ = rand.Read(raw)
	text := []byte(base64.StdEncoding.EncodeToString(raw))
	answer = func(n int) []byte { return text[:n] }
	corkState = make(chan bool, 16)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		ConnContext: WithConn,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := strconv.Atoi(r.URL.Query().Get("n"))
			if err != nil || n > len(text) {
				http.Error(w, "bad n", http.StatusBadRequest)
				return
			}
			b := answer(n)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			WriteAnswer(w, r, b)
			on, err := corked(tcpConn(r.Context().Value(connKey{})))
			if err != nil {
				t.Errorf("TCP_CORK: %v", err)
			}
			corkState <- on
		}),
	}
	go func() { _ = hs.Serve(lis) }()
	t.Cleanup(func() { _ = hs.Close() })
	return lis.Addr().String(), answer, corkState
}

// corked reads c's TCP_CORK.
func corked(c *net.TCPConn) (bool, error) {
	if c == nil {
		return false, errors.New("no TCP connection in the request context")
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return false, err
	}
	v, serr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK) }); err != nil {
		return false, err
	}
	return v != 0, serr
}

// TestWriteAnswerOneTransmission: a large answer reaches the client in
// one piece (the first read returns all of it: one segment on loopback,
// where without the cork net/http's first 4 KB write leaves alone), the
// connection is uncorked afterwards, and keep-alive requests on it, small
// and large, are answered whole.
func TestWriteAnswerOneTransmission(t *testing.T) {
	addr, answer, corkState := corkServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	br := bufio.NewReader(c)
	for i, n := range []int{7700, 100, 20000, 7700} {
		if _, err := fmt.Fprintf(c, "GET /?n=%d HTTP/1.1\r\nHost: keyserver\r\n\r\n", n); err != nil {
			t.Fatal(err)
		}
		want := answer(n)
		if i == 0 {
			// The first read, straight from the socket.
			got, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(buf[:got], []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(buf[:got], want) {
				t.Fatalf("first read returned %d bytes, not the whole %d-byte answer", got, n)
			}
		} else {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			got, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("request %d: answer of %d bytes (%v), want the %d sent", i, len(got), err, n)
			}
		}
		if <-corkState {
			t.Fatalf("request %d (%d bytes): connection still corked after WriteAnswer", i, n)
		}
	}
}

// TestTCPConnUnderTLS: the cork is set on the TCP connection under a TLS
// one.
func TestTCPConnUnderTLS(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if tcpConn(tls.Client(a, &tls.Config{})) != nil {
		t.Fatal("a pipe is not a TCP connection")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := tcpConn(tls.Client(c, &tls.Config{})); got != c.(*net.TCPConn) {
		t.Fatalf("tcpConn(tls.Client(c)) = %v, want c", got)
	}
	if tcpConn(nil) != nil {
		t.Fatal("tcpConn(nil) != nil")
	}
}
