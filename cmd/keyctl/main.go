// Command keyctl asks the key server's REST API for a content's key and
// prints the shaka-packager arguments that encrypt with it (raw-key mode):
//
//	--enable_raw_key_encryption
//	--protection_scheme=cbcs
//	--keys=label=:key_id=<32 hex>:key=<32 hex>:iv=<32 hex>
//	--pssh=<hex of the pssh boxes the server signals, in its order>
//	--protection_systems=FairPlay              (only when FairPlay is signaled)
//	--hls_key_uri=<FairPlay skd:// URI>        (only when FairPlay is signaled)
//
// one per line, so that `packager … $(keyctl -content movie-42)` works. The
// key is printed on purpose: this is a tool for the operator's packaging
// pipeline, and its output must be handled as a secret.
//
// Usage:
//
//	keyctl [-server URL] [-tenant T] -content ID [-live [-at RFC3339]] [-drm WV,PR,PRM,FPS] [-label L] [-auth TOKEN]
//
// The Nagra API has one key per content (per crypto period for LIVE), so
// -label does not select another key: it names the streams (shaka's
// drm_label) the content's key is for, and keyctl says so on stderr.
//
// Exit status (also in the usage):
//
//	0  the arguments were printed (also -h and --version)
//	1  anything else: an answer keyctl cannot read, output not written
//	2  usage: a bad or missing flag
//	3  refused by the server: HTTP 4xx (the request, the token or the
//	   tenant is wrong; retrying the same request will not help)
//	4  server or network unavailable: connection refused, name not
//	   resolved, timeout, HTTP 5xx (busy, store read-only, deadline);
//	   retrying later or elsewhere may help
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/internal/version"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	code := exitCode(err)
	var ue usageError
	if code != exitOK && !(errors.As(err, &ue) && ue.printed) {
		fmt.Fprintln(os.Stderr, "keyctl:", err)
	}
	os.Exit(code)
}

// Exit codes (see the package doc).
const (
	exitOK          = 0
	exitOther       = 1
	exitUsage       = 2
	exitRefused     = 3
	exitUnavailable = 4
)

// exitError is an error with its exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is a command-line error; the flag package has printed it
// already when it is its own.
type usageError struct {
	err     error
	printed bool
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode is the process exit status for run's error.
func exitCode(err error) int {
	var ee *exitError
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ee):
		return ee.code
	}
	return exitOther
}

func usagef(format string, args ...any) error {
	return usageError{err: fmt.Errorf(format, args...)}
}

// parseError is a flag set's Parse error: -h (flag.ErrHelp, exit 0) or a
// usage error the flag package has printed.
func parseError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err: err, printed: true}
}

// httpExitCode is the exit code of a non-200 HTTP answer: 3 for 4xx (the
// server refused the request), 4 for 5xx and anything else.
func httpExitCode(code int) int {
	if code >= 400 && code < 500 {
		return exitRefused
	}
	return exitUnavailable
}

const usageText = `Usage: keyctl [flags] -content ID
       keyctl cpix fetch|decrypt [flags]   (a CPIX document; keyctl cpix for its usage)

Asks the key server's REST API for a content's key and prints the
shaka-packager raw-key arguments, one per line:

    packager in=in.mp4,stream=video,output=v.mp4 $(keyctl -content movie-42)

The output holds the key: treat it as a secret. The Nagra API has one key
per content (per crypto period for LIVE): -label names the streams the key
is for (shaka's drm_label), it does not select another key.

Exit status: 0 printed; 1 other failure (an answer keyctl cannot read);
2 usage; 3 refused by the server (HTTP 4xx: the request, token or tenant is
wrong, do not retry as is); 4 server or network unavailable (connection
refused, timeout, HTTP 5xx: retry later or elsewhere).

Flags:
`

type options struct {
	server, tenant, content, drms, label, auth, at string
	live                                           bool
	timeout                                        time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "cpix" {
		return runCPIX(ctx, args[1:], stdout, stderr)
	}
	var o options
	fs := flag.NewFlagSet("keyctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below: to stdout for -h
	var showVersion bool
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	fs.StringVar(&o.server, "server", envOr("KEYCTL_SERVER", "http://127.0.0.1:8080"), "key server REST base URL (env KEYCTL_SERVER)")
	fs.StringVar(&o.tenant, "tenant", "", "tenant id; empty uses the server's default tenant route")
	fs.StringVar(&o.content, "content", "", "content id (drmContentId), required")
	fs.StringVar(&o.drms, "drm", "WV,PR,PRM,FPS", "DRM systems, comma-separated: WV, PR, PRM (pssh) and FPS (--hls_key_uri)")
	fs.StringVar(&o.label, "label", "", "shaka stream label (drm_label) the key is for; empty: all streams. The key is the content's one key whatever the label")
	fs.BoolVar(&o.live, "live", false, "LIVE content: the key of the crypto period that contains -at")
	fs.StringVar(&o.at, "at", "", "LIVE only: RFC 3339 time whose period's key to fetch (default now)")
	fs.StringVar(&o.auth, "auth", os.Getenv("KEYCTL_AUTH"), "nv-authorizations header value, if the server requires one (env KEYCTL_AUTH)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "request timeout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, usageText)
			fs.PrintDefaults()
			return err
		}
		fmt.Fprintln(stderr, "Run 'keyctl -h' for the flags.")
		return usageError{err: err, printed: true}
	}
	if showVersion {
		_, err := fmt.Fprintln(stdout, version.Get().String("keyctl"))
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %q", fs.Args())
	}
	if o.content == "" {
		return usagef("-content is required")
	}
	if o.at != "" && !o.live {
		return usagef("-at needs -live")
	}
	if strings.ContainsAny(o.label, ":,") {
		return usagef("-label must not contain ':' or ','")
	}
	if o.at != "" {
		if _, err := time.Parse(time.RFC3339, o.at); err != nil {
			return usagef("-at: %q is not an RFC 3339 time (2026-11-24T10:00:00Z)", o.at)
		}
	}
	if o.label != "" {
		fmt.Fprintf(stderr, "keyctl: note: label %s gets the content's one key (the Nagra API has one key per content); for another key per stream, use another -content\n", o.label)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	resp, err := fetch(ctx, &o)
	if err != nil {
		return err
	}
	lines, err := packagerArgs(resp, o.label)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(stdout, l); err != nil {
			return err
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// keyResponse is the part of the REST answer keyctl reads.
type keyResponse struct {
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage"`
	ContentKey   struct {
		KeyID string `json:"keyId"`
		Key   string `json:"key"`
		IV    string `json:"iv"`
	} `json:"contentKey"`
	DrmSignalization []struct {
		Dash *struct {
			DrmSystemID string `json:"drmSystemId"`
			PsshBox     string `json:"psshBox"`
		} `json:"dash"`
		HLS *struct {
			DrmSystemID string `json:"drmSystemId"`
			KeyURI      string `json:"keyUri"`
		} `json:"hls"`
	} `json:"drmSignalization"`
}

func fetch(ctx context.Context, o *options) (*keyResponse, error) {
	mode := "VOD"
	sched := map[string]any(nil)
	if o.live {
		mode = "LIVE"
		if o.at != "" {
			t, err := time.Parse(time.RFC3339, o.at)
			if err != nil {
				return nil, usagef("-at: %v", err)
			}
			sched = map[string]any{"time": t.UTC().Format(time.RFC3339)}
		}
	}
	var list []string
	for _, d := range strings.Split(o.drms, ",") {
		if d = strings.TrimSpace(d); d != "" {
			list = append(list, d)
		}
	}
	body := map[string]any{
		"drmContent": map[string]any{
			"drmContentId": o.content,
			"profile":      map[string]any{"distributionMode": mode},
		},
		"drmList": list,
	}
	if sched != nil {
		body["scheduledKey"] = sched
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	u := strings.TrimSuffix(o.server, "/")
	if o.tenant != "" {
		u += "/" + url.PathEscape(o.tenant)
	}
	u += "/ckm/v1/keyAndSignalization"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.auth != "" {
		req.Header.Set("nv-authorizations", o.auth)
	}
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		// Connection refused, name not resolved, TLS, timeout: the
		// server or the network is unavailable.
		return nil, &exitError{exitUnavailable, err}
	}
	defer hr.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(hr.Body, 1<<20))
	if err != nil {
		return nil, &exitError{exitUnavailable, fmt.Errorf("%s: reading the answer: %w", u, err)}
	}
	var r keyResponse
	jerr := json.Unmarshal(rb, &r)
	switch {
	case hr.StatusCode >= 500:
		return nil, &exitError{exitUnavailable, fmt.Errorf("%s: HTTP %d %s: %s", u, hr.StatusCode, r.Status, r.ErrorMessage)}
	case hr.StatusCode >= 400:
		return nil, &exitError{exitRefused, fmt.Errorf("%s: HTTP %d %s: %s", u, hr.StatusCode, r.Status, r.ErrorMessage)}
	case jerr != nil:
		return nil, fmt.Errorf("%s: HTTP %d, unreadable answer: %v", u, hr.StatusCode, jerr)
	case hr.StatusCode != http.StatusOK || r.Status != "OK":
		return nil, fmt.Errorf("%s: HTTP %d %s: %s", u, hr.StatusCode, r.Status, r.ErrorMessage)
	}
	return &r, nil
}

// packagerArgs turns the answer into shaka-packager arguments. pssh boxes
// come from the DASH entries (the same boxes go into the init segment for
// HLS too), each system once, in the server's order.
func packagerArgs(r *keyResponse, label string) ([]string, error) {
	kid, err := drm.ParseKeyID(r.ContentKey.KeyID)
	if err != nil {
		return nil, fmt.Errorf("contentKey.keyId: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(r.ContentKey.Key)
	if err != nil || len(key) != 16 {
		return nil, errors.New("contentKey.key is not the base64 of 16 bytes")
	}
	iv, err := base64.StdEncoding.DecodeString(r.ContentKey.IV)
	if err != nil || len(iv) != 16 {
		return nil, errors.New("contentKey.iv is not the base64 of 16 bytes")
	}
	var pssh []byte
	seen := map[string]bool{}
	hlsKeyURI := ""
	for i, s := range r.DrmSignalization {
		switch {
		case s.Dash != nil && s.Dash.PsshBox != "" && !seen[s.Dash.DrmSystemID]:
			box, err := base64.StdEncoding.DecodeString(s.Dash.PsshBox)
			if err != nil {
				return nil, fmt.Errorf("drmSignalization[%d].dash.psshBox: %v", i, err)
			}
			seen[s.Dash.DrmSystemID] = true
			pssh = append(pssh, box...)
		case s.HLS != nil && s.HLS.DrmSystemID == drm.SystemIDFairPlay:
			hlsKeyURI = s.HLS.KeyURI
		}
	}
	out := []string{
		"--enable_raw_key_encryption",
		"--protection_scheme=cbcs",
		fmt.Sprintf("--keys=label=%s:key_id=%s:key=%s:iv=%s", label, kid.Hex(), hex.EncodeToString(key), hex.EncodeToString(iv)),
	}
	if len(pssh) > 0 {
		out = append(out, "--pssh="+hex.EncodeToString(pssh))
	}
	if hlsKeyURI != "" {
		// FairPlay has no pssh box; naming the system makes shaka write
		// its HLS key line (com.apple.streamingkeydelivery) with this URI.
		out = append(out, "--protection_systems=FairPlay", "--hls_key_uri="+hlsKeyURI)
	}
	return out, nil
}
