package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/rotation"
	"github.com/keyserver/keyserver/signaling"
)

// keyService implements keyserverv1.KeyServiceServer. Its methods return
// domain errors; the interceptors translate them (errors.go).
type keyService struct {
	keyserverv1.UnimplementedKeyServiceServer
	cfg  *Config
	now  func() time.Time
	sigs sigCache // built signaling, shared by responses (sigcache.go)
}

func (s *keyService) GetKeyAndSignalization(ctx context.Context, req *keyserverv1.GetKeyAndSignalizationRequest) (*keyserverv1.GetKeyAndSignalizationResponse, error) {
	tenant := req.GetTenantId()
	if tenant == "" {
		tenant = s.cfg.DefaultTenant
		if tenant == "" {
			return nil, invalid("tenantId", "is required (no default tenant is configured)")
		}
	} else if !ValidTenantID(tenant) {
		return nil, invalid("tenantId", "must match [A-Za-z0-9_-]{1,64}")
	}
	kr, err := parseRequest(req, tenant)
	if err != nil {
		return nil, err
	}
	set := s.cfg.settings(tenant)

	ksReq := keystore.Request{
		Space:    keystore.Space{Tenant: tenant, ContentID: kr.contentID, Scheme: kr.scheme},
		Supplied: kr.supplied,
	}
	if kr.live {
		now := s.now()
		at := kr.at
		if at.IsZero() {
			at = now
		}
		if err := set.policy.Check(at, now); err != nil {
			return nil, err
		}
		ksReq.PeriodSeconds = set.policy.PeriodSeconds
		ksReq.Period = func(p int64) (int64, error) { return rotation.Period(at, p), nil }
	}
	rec, _, err := s.cfg.Store.GetOrCreate(ctx, ksReq)
	if err != nil {
		return nil, err
	}

	resp := &keyserverv1.GetKeyAndSignalizationResponse{Status: keyserverv1.Status_OK}
	switch {
	case kr.supplied == nil:
		resp.ContentKey = contentKeyOf(rec.Key, true)
	case kr.supplied.IV == nil:
		// The server made (or holds) the IV: tell the packager, never echo the key.
		resp.ContentKey = contentKeyOf(rec.Key, false)
	}
	k := sigSetKey{tenant: tenant, kid: rec.Key.KID, contentID: kr.contentID, scheme: kr.scheme, laURL: set.playReadyURL}
	cacheable := k.setOutputs(kr.outputs)
	if cacheable {
		if ss := s.sigs.get(&k); ss != nil {
			resp.DrmSignalization = ss.entries
			return resp, nil
		}
	}
	p := signaling.Params{
		KID:            rec.Key.KID,
		Key:            rec.Key.Key,
		IV:             rec.Key.IV,
		ContentID:      kr.contentID,
		Scheme:         kr.scheme,
		PlayReadyLAURL: set.playReadyURL,
	}
	entries := make([]*keyserverv1.DrmSignalization, 0, len(kr.outputs))
	for _, o := range kr.outputs {
		e, err := signal(o, p, set.drmName(o.sys))
		if err != nil {
			return nil, fmt.Errorf("signaling %s: %w", o.sys, err)
		}
		entries = append(entries, e)
	}
	resp.DrmSignalization = entries
	if cacheable && s.sigs.admit(&k) {
		resp.DrmSignalization = s.sigs.put(&k, newSigSet(entries)).entries
	}
	return resp, nil
}

// signal builds one drmSignalization entry; name, if not empty, replaces
// the default drmName.
func signal(o output, p signaling.Params, name string) (*keyserverv1.DrmSignalization, error) {
	if o.format == formatDASH {
		d, err := signaling.NewDASH(o.sys, p)
		if err != nil {
			return nil, err
		}
		if name != "" {
			d.Name = name
		}
		return &keyserverv1.DrmSignalization{Format: &keyserverv1.DrmSignalization_Dash{Dash: &keyserverv1.DashSignalization{
			DrmSystemId:    d.SystemID,
			DrmName:        d.Name,
			ManifestHeader: d.ContentProtection,
			PsshBox:        base64.StdEncoding.EncodeToString(d.PSSH),
		}}}, nil
	}
	h, err := signaling.NewHLS(o.sys, p)
	if err != nil {
		return nil, err
	}
	if name != "" {
		h.Name = name
	}
	return &keyserverv1.DrmSignalization{Format: &keyserverv1.DrmSignalization_Hls{Hls: &keyserverv1.HlsSignalization{
		DrmSystemId:       h.SystemID,
		DrmName:           h.Name,
		KeyUri:            h.URI,
		Method:            h.Method,
		KeyFormat:         h.KeyFormat,
		KeyFormatVersions: h.KeyFormatVersions,
		ExtXKey:           h.Line,
	}}}, nil
}
