// Package cpix reads, edits and writes DASH-IF CPIX documents (Content
// Protection Information Exchange: 2.0 as SPEKE v1 uses it, 2.3, 2.4) and
// implements CPIX encrypted key delivery.
//
// # Document model
//
// A [Document] is an XML tree ([github.com/beevik/etree]) that keeps what it
// was given: namespace prefixes, element order, unknown elements and
// attributes, comments. A key server answers a CPIX request by echoing it
// with values filled in, so nothing it does not understand may be lost.
// Elements are always matched by namespace URI and local name ([Child],
// [Children], [Is]), never by prefix: producers use cpix:, default
// namespaces, pskc: or pkcs:, and one DASH-IF vector uses odd prefixes in
// UTF-16. [Document.NewChild] creates elements with the prefix the document
// already uses and at the position the XSD requires.
//
// [Parse] accepts UTF-8 and UTF-16 input and refuses DOCTYPEs outright, so
// entity expansion cannot happen; [Limits] bound size, depth and element
// count. [Document.Bytes] always writes UTF-8.
//
// # Encrypted delivery (CPIX §4)
//
// Content keys travel either as pskc:PlainValue or encrypted for recipients
// named by X.509 certificates in DeliveryDataList. One random 256-bit
// document key encrypts every content key of the document (AES-256-CBC,
// random IV prepended, PKCS#7) and one random 512-bit MAC key authenticates
// each ciphertext (HMAC-SHA512 over IV ‖ ciphertext, pskc:ValueMAC). Both are
// wrapped for every recipient with RSA-OAEP (SHA-1, MGF1-SHA-1). The same
// [DeliveryKeys] therefore serve all recipients of one document.
//
// The MAC key's container comes in three dialects ([MACDialect]); the
// writer emits the one a client expects and the reader accepts all three.
//
// Key material never appears in errors, panics or String output.
//
// The package imports no transport; front-ends (frontend/cpix) build on it.
package cpix
