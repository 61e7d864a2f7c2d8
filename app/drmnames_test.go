package app_test

import (
	"strings"
	"testing"

	"github.com/keyserver/keyserver/app"

	"github.com/keyserver/keyserver/app/apptest"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
)

// TestDRMNames: drmName defaults to Nagra's observed names and follows the
// per-tenant, then default, configuration.
func TestDRMNames(t *testing.T) {
	env := apptest.Start(t, app.Config{
		DefaultTenant: "NAG0000",
		Defaults:      app.Tenant{DRMNames: map[string]string{"FPS": "FAIRPLAY"}},
		Tenants: map[string]app.Tenant{
			"NAG0001": {DRMNames: map[string]string{"prm": "NagraPRM", "WV": "WIDEVINE"}},
		},
	})
	names := func(tenant string) string {
		var got []string
		for _, tr := range transports {
			resp := mustOK(t, tr.call(t, env, tenant, newReq("names", keyserverv1.DistributionMode_VOD, 0)))
			var n []string
			for _, s := range resp.GetDrmSignalization() {
				if d := s.GetDash(); d != nil {
					n = append(n, "dash:"+d.GetDrmName())
				} else {
					n = append(n, "hls:"+s.GetHls().GetDrmName())
				}
			}
			got = append(got, strings.Join(n, ","))
		}
		if got[0] != got[1] {
			t.Fatalf("gRPC and REST differ: %s vs %s", got[0], got[1])
		}
		return got[0]
	}
	if got, want := names("OTHER"), "dash:PLAYREADY,dash:PRM,dash:WideVine,hls:FAIRPLAY,hls:PRM,hls:WideVine"; got != want {
		t.Errorf("unlisted tenant: %s, want %s", got, want)
	}
	if got, want := names("NAG0001"), "dash:PLAYREADY,dash:NagraPRM,dash:WIDEVINE,hls:FAIRPLAY,hls:NagraPRM,hls:WIDEVINE"; got != want {
		t.Errorf("listed tenant: %s, want %s", got, want)
	}

	bad := app.Config{Store: env.Store, Defaults: app.Tenant{DRMNames: map[string]string{"CLEARKEY": "x", "PR": "bad\nname"}}}
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), `"CLEARKEY"`) || !strings.Contains(err.Error(), "drmNames[PR]") {
		t.Errorf("Validate: %v", err)
	}
}
