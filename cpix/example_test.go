package cpix_test

import (
	"fmt"
	"os"

	"github.com/keyserver/keyserver/cpix"
)

// A key server answering an encrypted CPIX request: echo the document,
// wrap one pair of delivery keys for every recipient, encrypt each content
// key.
func Example() {
	req, err := os.ReadFile("testdata/vectors/RecipientsWithoutContentKeys.xml")
	if err != nil {
		panic(err)
	}
	doc, err := cpix.Parse(req, cpix.Limits{})
	if err != nil {
		panic(err)
	}
	list := cpix.Child(doc.Root, cpix.NS, "ContentKeyList")
	if list == nil {
		list = doc.NewChild(doc.Root, cpix.NS, "ContentKeyList")
	}
	ck := doc.NewChild(list, cpix.NS, "ContentKey")
	ck.CreateAttr("kid", "0ae6b9ad-92d2-4ebe-882b-1d07dee70715")

	keys, err := cpix.GenerateDeliveryKeys(nil) // crypto/rand
	if err != nil {
		panic(err)
	}
	n, err := doc.WrapDeliveryKeys(keys, cpix.DialectDASHIF, nil)
	if err != nil {
		panic(err)
	}
	for _, ck := range doc.ContentKeys() {
		key := make([]byte, 16) // from the key store
		if err := doc.SetEncryptedValue(ck, key, keys, nil); err != nil {
			panic(err)
		}
	}
	if _, err := doc.Bytes(); err != nil {
		panic(err)
	}
	fmt.Println(n, "recipients;", keys)
	// Output: 2 recipients; cpix.DeliveryKeys{REDACTED}
}
