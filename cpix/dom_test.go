package cpix

import (
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/keyserver/keyserver/drm"
)

// names lists the children of e as {ns}local.
func names(e *etree.Element) []string {
	var out []string
	for _, c := range e.ChildElements() {
		out = append(out, "{"+c.NamespaceURI()+"}"+c.Tag)
	}
	return out
}

func echo(t *testing.T, d *Document) *Document {
	t.Helper()
	b, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, b)
}

func TestNewChild_DefaultNamespace(t *testing.T) {
	d := mustParse(t, readVector(t, "EmptyDocument.xml")) // xmlns="urn:dashif:org:cpix"
	d.NewChild(d.Root, NSDS, "Signature")
	ckl := d.NewChild(d.Root, NS, "ContentKeyList")
	d.NewChild(d.Root, NS, "UpdateHistoryItemList")
	d.NewChild(d.Root, NS, "DeliveryDataList")
	d.NewChild(d.Root, NS, "ContentKeyUsageRuleList")
	d.NewChild(d.Root, NS, "DRMSystemList")
	d.NewChild(d.Root, NS, "ContentKeyPeriodList")
	ck := d.NewChild(ckl, NS, "ContentKey")
	if ck.Space != "" || ckl.Space != "" {
		t.Errorf("cpix elements of a default-namespace document got prefixes %q, %q", ckl.Space, ck.Space)
	}
	data := d.NewChild(ck, NS, "Data")
	secret := d.NewChild(data, NSPSKC, "Secret")
	if secret.Space != "pskc" {
		t.Errorf("Secret prefix %q, want the document's pskc", secret.Space)
	}
	got := names(echo(t, d).Root)
	want := []string{
		"{" + NS + "}DeliveryDataList", "{" + NS + "}ContentKeyList", "{" + NS + "}DRMSystemList",
		"{" + NS + "}ContentKeyPeriodList", "{" + NS + "}ContentKeyUsageRuleList",
		"{" + NS + "}UpdateHistoryItemList", "{" + NSDS + "}Signature",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("CPIX children\n got %v\nwant %v", got, want)
	}
}

func TestNewChild_Prefixes(t *testing.T) {
	// cpix: prefix, no pskc declared, "enc" taken by another namespace in scope.
	d := mustParse(t, []byte(`<c:CPIX xmlns:c="urn:dashif:org:cpix" xmlns:enc="urn:example:other"><c:ContentKeyList><c:ContentKey kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715"/></c:ContentKeyList></c:CPIX>`))
	ck := Path(d.Root, NS, "ContentKeyList", NS, "ContentKey")
	data := d.NewChild(ck, NS, "Data")
	secret := d.NewChild(data, NSPSKC, "Secret")
	ev := d.NewChild(secret, NSPSKC, "EncryptedValue")
	em := d.NewChild(ev, NSEnc, "EncryptionMethod")
	if data.Space != "c" || secret.Space != "pskc" || em.Space != "enc1" {
		t.Errorf("prefixes %q %q %q, want c pskc enc1", data.Space, secret.Space, em.Space)
	}
	if v, _ := Attr(d.Root, "xmlns:pskc"); v != "" {
		t.Errorf("Attr matched a prefixed attribute")
	}
	if d.Root.SelectAttrValue("xmlns:pskc", "") != NSPSKC || d.Root.SelectAttrValue("xmlns:enc1", "") != NSEnc {
		t.Errorf("declarations on the root: %v", d.Root.Attr)
	}
	e := echo(t, d)
	if got := Path(e.Root, NS, "ContentKeyList", NS, "ContentKey", NS, "Data", NSPSKC, "Secret", NSPSKC, "EncryptedValue", NSEnc, "EncryptionMethod"); got == nil {
		t.Error("the new elements do not resolve to their namespaces after an echo")
	}
	// A prefix bound nearer the parent shadows the root's: not reused.
	d = mustParse(t, []byte(`<CPIX xmlns="urn:dashif:org:cpix" xmlns:p="urn:ietf:params:xml:ns:keyprov:pskc"><ContentKeyList xmlns:p="urn:x"><ContentKey kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715"><Data/></ContentKey></ContentKeyList></CPIX>`))
	data = Path(d.Root, NS, "ContentKeyList", NS, "ContentKey", NS, "Data")
	if s := d.NewChild(data, NSPSKC, "Secret"); s.Space != "pskc" || s.NamespaceURI() != NSPSKC {
		t.Errorf("shadowed prefix: got %q → %q", s.Space, s.NamespaceURI())
	}
	// An element in no namespace under a default namespace undeclares it.
	if x := d.NewChild(data, "", "Vendor"); x.NamespaceURI() != "" {
		t.Errorf("no-namespace element resolves to %q", x.NamespaceURI())
	}
}

func TestNewChild_Order(t *testing.T) {
	d := mustParse(t, []byte(`<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" xmlns:speke="urn:aws:amazon:com:speke">
  <cpix:DeliveryDataList><cpix:DeliveryData><cpix:DeliveryKey/><cpix:Description>d</cpix:Description></cpix:DeliveryData></cpix:DeliveryDataList>
  <cpix:ContentKeyList><cpix:ContentKey kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715"><cpix:HDCPData/></cpix:ContentKey></cpix:ContentKeyList>
  <cpix:DRMSystemList>
    <cpix:DRMSystem kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715" systemId="94ce86fb-07ff-4f43-adb8-93d2fa968ca2">
      <cpix:ContentProtectionData/>
      <speke:KeyFormat/>
    </cpix:DRMSystem>
  </cpix:DRMSystemList>
  <cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715"><cpix:VideoFilter/></cpix:ContentKeyUsageRule></cpix:ContentKeyUsageRuleList>
</cpix:CPIX>`))
	drmSys := Path(d.Root, NS, "DRMSystemList", NS, "DRMSystem")
	d.NewChild(drmSys, NS, "HLSSignalingData")
	d.NewChild(drmSys, NS, "PSSH")
	d.NewChild(drmSys, NS, "URIExtXKey")
	d.NewChild(drmSys, NSSpeke, "ProtectionHeader")
	d.NewChild(drmSys, NS, "SmoothStreamingProtectionHeaderData")
	ck := Path(d.Root, NS, "ContentKeyList", NS, "ContentKey")
	d.NewChild(ck, NS, "Data")
	dd := Path(d.Root, NS, "DeliveryDataList", NS, "DeliveryData")
	d.NewChild(dd, NS, "ReceivingEntity")
	d.NewChild(dd, NS, "MACMethod")
	d.NewChild(dd, NS, "DocumentKey")
	rule := Path(d.Root, NS, "ContentKeyUsageRuleList", NS, "ContentKeyUsageRule")
	d.NewChild(rule, NS, "KeyPeriodFilter")
	d.NewChild(rule, NS, "BitrateFilter")
	d.NewChild(rule, NS, "LabelFilter")
	d.NewChild(d.Root, NS, "ContentKeyPeriodList")
	e := echo(t, d)
	check := func(what string, el *etree.Element, want ...string) {
		t.Helper()
		got := names(el)
		for i := range want {
			want[i] = strings.NewReplacer("cpix:", "{"+NS+"}", "speke:", "{"+NSSpeke+"}").Replace(want[i])
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s children\n got %v\nwant %v", what, got, want)
		}
	}
	check("DRMSystem", Path(e.Root, NS, "DRMSystemList", NS, "DRMSystem"),
		"cpix:PSSH", "cpix:ContentProtectionData", "cpix:URIExtXKey", "cpix:HLSSignalingData",
		"cpix:SmoothStreamingProtectionHeaderData", "speke:KeyFormat", "speke:ProtectionHeader")
	check("ContentKey", Path(e.Root, NS, "ContentKeyList", NS, "ContentKey"), "cpix:HDCPData", "cpix:Data")
	check("DeliveryData", Path(e.Root, NS, "DeliveryDataList", NS, "DeliveryData"),
		"cpix:DeliveryKey", "cpix:DocumentKey", "cpix:MACMethod", "cpix:Description", "cpix:ReceivingEntity")
	check("ContentKeyUsageRule", Path(e.Root, NS, "ContentKeyUsageRuleList", NS, "ContentKeyUsageRule"),
		"cpix:KeyPeriodFilter", "cpix:LabelFilter", "cpix:VideoFilter", "cpix:BitrateFilter")
	check("CPIX", e.Root, "cpix:DeliveryDataList", "cpix:ContentKeyList", "cpix:DRMSystemList",
		"cpix:ContentKeyPeriodList", "cpix:ContentKeyUsageRuleList")
}

func TestNew(t *testing.T) {
	d := New()
	d.Root.CreateAttr("version", "2.3")
	ck := d.NewChild(d.NewChild(d.Root, NS, "ContentKeyList"), NS, "ContentKey")
	ck.CreateAttr("kid", "0ae6b9ad-92d2-4ebe-882b-1d07dee70715")
	b, err := d.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	const want = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<CPIX xmlns="urn:dashif:org:cpix" version="2.3"><ContentKeyList><ContentKey kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715"/></ContentKeyList></CPIX>`
	if string(b) != want {
		t.Errorf("Bytes()\n got %s\nwant %s", b, want)
	}
	if e := echo(t, d); e.Version() != "2.3" {
		t.Errorf("Version() = %q", e.Version())
	}
}

func TestUUIDAttr(t *testing.T) {
	want, _ := drm.ParseKeyID("0ae6b9ad-92d2-4ebe-882b-1d07dee70715")
	for _, c := range []struct {
		attr string
		err  error
	}{
		{`kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715"`, nil},
		{`kid="0AE6B9AD-92D2-4EBE-882B-1D07DEE70715"`, nil},
		{`kid=" 0ae6b9ad-92d2-4ebe-882B-1d07dee70715 "`, nil},
		{`id="x"`, ErrMissingAttr},
		{`c:kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715"`, ErrMissingAttr},
		{`kid="0ae6b9ad92d24ebe882b1d07dee70715"`, drm.ErrInvalidKeyID},
		{`kid="f45bcebb-f0df-4a34-bf4e-c24edfcf628"`, drm.ErrInvalidKeyID},
		{`kid="g45bcebb-f0df-4a34-bf4e-c24edfcf6289"`, drm.ErrInvalidKeyID},
	} {
		d := mustParse(t, []byte(`<c:CPIX xmlns:c="urn:dashif:org:cpix"><c:ContentKey `+c.attr+`/></c:CPIX>`))
		got, err := UUIDAttr(Child(d.Root, NS, "ContentKey"), "kid")
		if !errors.Is(err, c.err) || (err == nil && got != want) {
			t.Errorf("%s: got %v, %v; want %v", c.attr, got, err, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), "ContentKey@kid") {
			t.Errorf("%s: error %q does not name ContentKey@kid", c.attr, err)
		}
	}
}
