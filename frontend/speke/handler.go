// Package speke is the CPIX front-end: AWS SPEKE v1, v2.0 and v2.1 and
// plain DASH-IF CPIX 2.3/2.4 documents over HTTP (packager-protocols.md §1,
// §2). It reads a document with package cpix, binds each key id the
// encryptor chose to one key through the issuer (issuer.BindKeyID: one key
// per key id in a tenant, whichever front-end issued it), fills the
// placeholders the document carries with the signaling of package
// signaling, encrypts the keys for the recipients it names, and echoes
// everything else unchanged.
//
// Routes (Patterns): SPEKE v2 and v1 with and without a tenant in the
// path (without: the default tenant), the v1 heartbeat, POST
// /{tenantId}/cpix (plain CPIX, also key ingest) and GET
// /{tenantId}/cpix/{contentId} (a document this server authors).
//
// Errors are HTTP 4xx with a text/plain message naming what was wrong
// (SPEKE v2: 422 with MediaPackage's messages where they exist), 5xx only
// for the server's own failures. Nothing is stored for a refused document.
// The package imports no other front-end and not package server.
package speke

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/keyserver/keyserver/access"
	"github.com/keyserver/keyserver/authn"
	"github.com/keyserver/keyserver/cpix"
	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/issuer"
	"github.com/keyserver/keyserver/keystore"
)

// FrontEnd is this front-end's name in logs and observer events.
const FrontEnd = "cpix"

// Patterns are the front-end's routes, as net/http ServeMux patterns.
var Patterns = []string{
	"POST /speke/v2/copyProtection", "POST /{tenantId}/speke/v2/copyProtection",
	"POST /speke/v1/copyProtection", "POST /{tenantId}/speke/v1/copyProtection",
	"GET /speke/v1/heartbeat", "GET /{tenantId}/speke/v1/heartbeat",
	"POST /{tenantId}/cpix", "GET /{tenantId}/cpix/{contentId}",
}

// MaxBody bounds a request document.
const MaxBody = 2 << 20

// UserAgent is sent as X-Speke-User-Agent (v2) and Speke-User-Agent (v1).
const UserAgent = "keyserver"

// Tenant is a tenant's CPIX policy.
type Tenant struct {
	// RequireEncryption refuses documents that name no recipient
	// (DeliveryDataList): keys are then never answered in the clear.
	RequireEncryption bool
	// MACDialect is the MACMethod form written for encrypted answers:
	// "aws" (speke-reference-server, shaka-packager), "dashif" (the
	// DASH-IF vectors, Axinom), "pskc" (the PSKC schema); "" means aws on
	// the SPEKE routes and dashif on /cpix.
	MACDialect string
}

// Config configures the Handler.
type Config struct {
	// Issuer issues the keys. Required.
	Issuer *issuer.Issuer
	// Auth verifies nv-authorizations tokens and client certificates.
	Auth authn.Auth
	// Tenants are the per-tenant policies; Defaults applies to the others.
	Defaults Tenant
	Tenants  map[string]Tenant
	// KeyURL returns the HLS AES-128 key URL of a key (the URI of
	// #EXT-X-KEY:METHOD=AES-128). Nil: documents asking for HLS AES-128
	// are refused.
	KeyURL func(tenant string, kid drm.KeyID) string
	// Recipient, if set, is this server's own certificate and private key
	// for encrypted key ingest (POST /{tenantId}/cpix).
	Recipient *Recipient
	// Now is the clock tokens' exp is checked against; nil: time.Now.
	Now func() time.Time
	// Logger receives internal errors; nil discards. (Request lines are
	// the server's access log.)
	Logger *slog.Logger
}

// Handler serves Patterns.
type Handler struct {
	cfg  Config
	iss  *issuer.Issuer
	auth *authn.Verifier
	log  *slog.Logger
}

// New returns the handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Issuer == nil {
		return nil, errors.New("speke: config needs an Issuer")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, iss: cfg.Issuer, auth: authn.NewVerifier(cfg.Auth, cfg.Now), log: cfg.Logger}, nil
}

func (h *Handler) tenant(id string) Tenant {
	if t, ok := h.cfg.Tenants[id]; ok {
		return t
	}
	return h.cfg.Defaults
}

// RefuseHTTP answers a refusal of the server's chain (too large, busy,
// bad correlation id) in this protocol: a status and a text message.
func (h *Handler) RefuseHTTP(w http.ResponseWriter, r *http.Request, ref access.Refusal) {
	code := http.StatusBadRequest
	switch ref.Kind {
	case access.RefusedTooLarge:
		code = http.StatusRequestEntityTooLarge
	case access.RefusedBusy:
		code = http.StatusServiceUnavailable
	}
	h.writeError(w, r, &httpError{code: code, msg: ref.Msg})
}

// ServeHTTP dispatches on the matched pattern.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	note := access.FromContext(r.Context())
	tenant := r.PathValue("tenantId")
	if tenant == "" {
		tenant = h.iss.DefaultTenant()
	}
	note.Tenant = tenant
	var p profile
	switch {
	case strings.HasSuffix(r.Pattern, "/speke/v1/heartbeat"):
		note.Method = "speke/v1/heartbeat"
		h.heartbeat(w, r, tenant)
		return
	case strings.HasSuffix(r.Pattern, "/speke/v2/copyProtection"):
		note.Method = "speke/v2"
		switch v := r.Header.Get("X-Speke-Version"); v {
		case "2.0":
			p = spekeV20
		case "2.1":
			p = spekeV21
		default:
			if err := h.authenticate(r, tenant); err != nil {
				h.writeError(w, r, err)
				return
			}
			h.writeError(w, r, unprocessable(msgUnsupportedSpeke))
			return
		}
	case strings.HasSuffix(r.Pattern, "/speke/v1/copyProtection"):
		note.Method = "speke/v1"
		p = spekeV1
	case r.Method == http.MethodGet:
		note.Method = "cpix/get"
		h.serveGet(w, r, tenant)
		return
	default:
		note.Method = "cpix"
		p = plainCPIX
	}
	h.servePost(w, r, tenant, p)
}

// servePost answers a POSTed document.
func (h *Handler) servePost(w http.ResponseWriter, r *http.Request, tenant string, p profile) {
	ctx := r.Context()
	if err := h.authenticate(r, tenant); err != nil {
		h.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.writeError(w, r, &httpError{code: http.StatusRequestEntityTooLarge, msg: "document exceeds the limit of 2 MiB"})
			return
		}
		h.writeError(w, r, badRequest("reading the request body: %v", err))
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		h.writeError(w, r, badRequest("empty body: want a CPIX document"))
		return
	}
	doc, err := cpix.Parse(body, parseLimits)
	if err != nil {
		h.writeError(w, r, badRequest("%v", err))
		return
	}
	out, err := h.answer(ctx, doc, tenant, p)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeDocument(w, r, p, out)
}

// parseLimits bound one document: MaxBody, and a structure far beyond any
// real document (the largest DASH-IF vector is depth 9).
var parseLimits = cpix.Limits{MaxBytes: MaxBody, MaxDepth: 32, MaxElements: 50000}

func (h *Handler) heartbeat(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := h.authenticate(r, tenant); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Speke-User-Agent", UserAgent)
	access.FromContext(r.Context()).HTTPCode = http.StatusOK
	_, _ = io.WriteString(w, "OK\n")
}

// writeDocument answers a document with the headers of its profile.
func (h *Handler) writeDocument(w http.ResponseWriter, r *http.Request, p profile, doc *cpix.Document) {
	hd := w.Header()
	hd.Set("Content-Type", "application/xml; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	setVersionHeaders(hd, r, p)
	note := access.FromContext(r.Context())
	note.HTTPCode, note.Status = http.StatusOK, "OK"
	_, _ = doc.WriteTo(w)
}

func setVersionHeaders(hd http.Header, r *http.Request, p profile) {
	switch {
	case p.v2():
		hd.Set("X-Speke-Version", r.Header.Get("X-Speke-Version"))
		hd.Set("X-Speke-User-Agent", UserAgent)
	case p == spekeV1:
		hd.Set("Speke-User-Agent", UserAgent)
	}
}

// writeError answers a refusal: its status and message as text; a
// server failure as 500 (or 503 when the store is unavailable) with a
// generic message, logged.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = h.serverError(r.Context(), err)
	}
	note := access.FromContext(r.Context())
	note.HTTPCode = he.code
	note.Status = http.StatusText(he.code)
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	if strings.Contains(r.Pattern, "/speke/v2/") {
		if v := r.Header.Get("X-Speke-Version"); v == "2.0" || v == "2.1" {
			hd.Set("X-Speke-Version", v)
		}
		hd.Set("X-Speke-User-Agent", UserAgent)
	} else if strings.Contains(r.Pattern, "/speke/v1/") {
		hd.Set("Speke-User-Agent", UserAgent)
	}
	w.WriteHeader(he.code)
	_, _ = io.WriteString(w, he.msg+"\n")
}

// serverError maps an error that is not the client's to a status.
func (h *Handler) serverError(ctx context.Context, err error) *httpError {
	switch {
	case errors.Is(err, keystore.ErrUnavailable):
		return &httpError{code: http.StatusServiceUnavailable, msg: "key store unavailable: no new key can be stored now"}
	case errors.Is(err, context.DeadlineExceeded):
		return &httpError{code: http.StatusGatewayTimeout, msg: "request deadline exceeded"}
	case errors.Is(err, context.Canceled):
		return &httpError{code: 499, msg: "request canceled"}
	}
	h.log.ErrorContext(ctx, "cpix: request failed", slog.String("correlationId", access.CorrelationID(ctx)), slog.Any("error", err))
	return &httpError{code: http.StatusInternalServerError, msg: "internal error"}
}
