package app_test

import (
	"strings"
	"testing"

	"github.com/keyserver/keyserver/app"
	"github.com/keyserver/keyserver/internal/testkit"
)

// TestLicenseBaseURL: licenseBaseUrl must be an absolute http(s) URL short
// enough for every PlayReady header; a bad one is refused at start, naming
// the tenant and the field, rather than failing requests later.
func TestLicenseBaseURL(t *testing.T) {
	store, _ := testkit.NewBolt(t)
	for _, good := range []string{"https://lic.example.com", "http://10.0.0.1:8080/NAG0000/", "https://x/" + strings.Repeat("a", 1014)} {
		c := app.Config{Store: store, Tenants: map[string]app.Tenant{"NAG0001": {LicenseBaseURL: good}}}
		if err := c.Validate(); err != nil {
			t.Errorf("%.40q: %v", good, err)
		}
	}
	for _, bad := range []string{
		"lic.example.com",
		"ftp://lic.example.com",
		"https://",
		"https:lic",
		"https://lic.example.com/a b",
		"https://lic.example.com/\t",
		"https://lic.example.com/é",
		"https://lic.example.com/%zz",
		"https://x/" + strings.Repeat("a", 1015),
	} {
		c := app.Config{Store: store, Tenants: map[string]app.Tenant{"NAG0001": {LicenseBaseURL: bad}}}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "tenant NAG0001: licenseBaseUrl") {
			t.Errorf("%.40q: Validate = %v, want an error naming tenant NAG0001's licenseBaseUrl", bad, err)
		}
	}
}
