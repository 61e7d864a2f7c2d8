package signaling_test

import (
	"encoding/hex"
	"fmt"

	"github.com/keyserver/keyserver/drm"
	"github.com/keyserver/keyserver/signaling"
)

func ExampleNewHLS() {
	kid, _ := drm.ParseKeyID("11100111-2222-3333-4444-000000000006")
	h, err := signaling.NewHLS(drm.FairPlay, signaling.Params{
		KID:       kid,
		IV:        drm.IV{0: 1, 15: 2},
		ContentID: "new106",
		Scheme:    drm.SchemeCBCS,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Line)
	// Output:
	// #EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://eyJDb250ZW50SWQiOiJuZXcxMDYiLCJLZXlJZCI6IjExMTAwMTExLTIyMjItMzMzMy00NDQ0LTAwMDAwMDAwMDAwNiIsIklWIjoiQVFBQUFBQUFBQUFBQUFBQUFBQUFBZz09In0=",KEYFORMATVERSIONS="1",KEYFORMAT="com.apple.streamingkeydelivery"
}

func ExampleNewPSSH() {
	kid, _ := drm.ParseKeyID("11100111-2222-3333-4444-000000000006")
	box, err := signaling.NewPSSH(drm.Widevine, signaling.Params{KID: kid, ContentID: "new106", Scheme: drm.SchemeCBCS})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(hex.EncodeToString(box))
	// Output:
	// 000000407073736800000000edef8ba979d64acea3c827dcd51d21ed0000002012101110011122223333444400000000000622066e657731303648f3c6899b06
}

func ExampleParseNagraPSSHData() {
	d, err := signaling.ParseNagraPSSHData([]byte("eyJjb250ZW50SWQiOiJuZXcxMDYiLCJrZXlJZCI6IjExMTAwMTExLTIyMjItMzMzMy00NDQ0LTAwMDAwMDAwMDAwNiJ9"))
	fmt.Println(d.ContentID, d.KeyID, err)
	// Output:
	// new106 11100111-2222-3333-4444-000000000006 <nil>
}
