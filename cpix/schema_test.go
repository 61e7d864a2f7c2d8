package cpix

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/keyserver/keyserver/cpix/cpixtest"
)

// TestSchema_Echo: the echo of every DASH-IF vector is valid (the vectors
// themselves are valid against the CPIX 2.3 schema).
func TestSchema_Echo(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.file, func(t *testing.T) {
			out, err := mustParse(t, readVector(t, v.file)).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			cpixtest.Validate(t, out)
		})
	}
}

// TestSchema_Encrypted: documents encrypted in every dialect are valid
// against the schema of their version.
func TestSchema_Encrypted(t *testing.T) {
	for _, version := range []string{"", "2.3", "2.4"} {
		for _, dialect := range dialects {
			t.Run(dialect.String()+"/"+version, func(t *testing.T) {
				d := mustParse(t, readVector(t, "ClearContentKeysOnly.xml"))
				if version != "" {
					d.Root.CreateAttr("version", version)
				}
				k, err := GenerateDeliveryKeys(nil)
				if err != nil {
					t.Fatal(err)
				}
				ddl := d.NewChild(d.Root, NS, "DeliveryDataList")
				for _, c := range []string{"Cert1", "Cert2"} {
					dd := d.NewChild(ddl, NS, "DeliveryData")
					d.NewChild(dd, NS, "ReceivingEntity").SetText(c)
					if err := d.WriteDeliveryData(dd, recipient(t, c), k, dialect, nil); err != nil {
						t.Fatal(err)
					}
				}
				for _, ck := range contentKeys(d) {
					v, _ := d.ContentKeyValue(ck, nil)
					if err := d.SetEncryptedValue(ck, v, k, nil); err != nil {
						t.Fatal(err)
					}
				}
				out, err := d.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				cpixtest.Validate(t, out)
			})
		}
	}
}

// TestSchema_Authored: a document built from New with NewChild calls in
// a scrambled order comes out in XSD order.
func TestSchema_Authored(t *testing.T) {
	for _, version := range []string{"2.3", "2.4"} {
		t.Run(version, func(t *testing.T) {
			const kid = "0ae6b9ad-92d2-4ebe-882b-1d07dee70715"
			d := New()
			d.Root.CreateAttr("version", version)
			d.Root.CreateAttr("contentId", "asset-1")
			rules := d.NewChild(d.Root, NS, "ContentKeyUsageRuleList")
			rule := d.NewChild(rules, NS, "ContentKeyUsageRule")
			rule.CreateAttr("kid", kid)
			rule.CreateAttr("intendedTrackType", "VIDEO")
			d.NewChild(rule, NS, "VideoFilter").CreateAttr("maxPixels", "8847360")
			d.NewChild(rule, NS, "KeyPeriodFilter").CreateAttr("periodId", "p1")
			drmList := d.NewChild(d.Root, NS, "DRMSystemList")
			sys := d.NewChild(drmList, NS, "DRMSystem")
			sys.CreateAttr("kid", kid)
			sys.CreateAttr("systemId", "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed")
			playlist := "multiVariant"
			if version == "2.3" {
				playlist = "master"
			}
			d.NewChild(sys, NS, "HLSSignalingData").CreateAttr("playlist", playlist)
			d.NewChild(sys, NS, "SmoothStreamingProtectionHeaderData").SetText("AAAA")
			d.NewChild(sys, NS, "PSSH").SetText("AAAAIHBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAAAA=")
			d.NewChild(sys, NS, "ContentProtectionData").SetText("PHBzc2g+PC9wc3NoPg==")
			d.NewChild(sys, NS, "HLSSignalingData").CreateAttr("playlist", "media")
			periods := d.NewChild(d.Root, NS, "ContentKeyPeriodList")
			p := d.NewChild(periods, NS, "ContentKeyPeriod")
			p.CreateAttr("id", "p1")
			p.CreateAttr("index", "1")
			ck := d.NewChild(d.NewChild(d.Root, NS, "ContentKeyList"), NS, "ContentKey")
			ck.CreateAttr("kid", kid)
			ck.CreateAttr("commonEncryptionScheme", "cbcs")
			d.SetPlainValue(ck, []byte("0123456789abcdef"))
			out, err := d.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			cpixtest.Validate(t, out)
		})
	}
}

// TestSchema_CatchesInvalid: the validator is not a no-op.
func TestSchema_CatchesInvalid(t *testing.T) {
	for name, doc := range map[string]string{
		"order":            `<CPIX xmlns="urn:dashif:org:cpix"><ContentKeyList><ContentKey kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715"/></ContentKeyList><DeliveryDataList/></CPIX>`,
		"2.4 Algorithm":    `<CPIX xmlns="urn:dashif:org:cpix" version="2.4"><DeliveryDataList><DeliveryData><DeliveryKey/><DocumentKey Algorithm="x"><Data/></DocumentKey></DeliveryData></DeliveryDataList></CPIX>`,
		"2.3 multiVariant": `<CPIX xmlns="urn:dashif:org:cpix" version="2.3"><DRMSystemList><DRMSystem kid="0ae6b9ad-92d2-4ebe-882b-1d07dee70715" systemId="edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"><HLSSignalingData playlist="multiVariant"/></DRMSystem></DRMSystemList></CPIX>`,
	} {
		err := cpixtest.Check([]byte(doc))
		if errors.Is(err, cpixtest.ErrNoXmllint) {
			if os.Getenv("KEYSERVER_E2E_REQUIRED") == "1" {
				t.Fatal(err)
			}
			t.Skip(err)
		}
		if err == nil {
			t.Errorf("%s: invalid document passed", name)
		}
	}
}

// TestSchema_Decrypted: Decrypt writes PlainValues with the document's own
// prefixes (EvenMoreComplex's are odd) and the result stays valid, with the
// keys the encrypted form held.
func TestSchema_Decrypted(t *testing.T) {
	for _, c := range []struct{ file, cert string }{
		{"EncryptedContentKeys.xml", "Cert1"},
		{"EncryptedContentKeysWithMultipleRecipients.xml", "Cert3"},
		{"Complex.xml", "Cert2"},
		{"EvenMoreComplex.xml", "Cert2"},
	} {
		t.Run(c.file, func(t *testing.T) {
			d := mustParse(t, readVector(t, c.file))
			k, _, err := d.OpenDeliveryData(privateKey(t, c.cert))
			if err != nil {
				t.Fatal(err)
			}
			want := values(t, d, k)
			if err := d.Decrypt(privateKey(t, c.cert)); err != nil {
				t.Fatal(err)
			}
			out, err := d.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if got := values(t, mustParse(t, out), nil); !sameMap(got, want) {
				t.Errorf("after Decrypt\n got %v\nwant %v", got, want)
			}
			if c.file == "EvenMoreComplex.xml" && bytes.Contains(out, []byte("xmlns:pskc=")) {
				t.Error("Decrypt declared pskc instead of using the document's prefix")
			}
			cpixtest.Validate(t, out)
		})
	}
}
