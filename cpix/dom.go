package cpix

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/beevik/etree"

	"github.com/keyserver/keyserver/drm"
)

// Namespace URIs of the elements a CPIX document holds.
const (
	NS      = "urn:dashif:org:cpix"
	NSPSKC  = "urn:ietf:params:xml:ns:keyprov:pskc"
	NSEnc   = "http://www.w3.org/2001/04/xmlenc#"
	NSDS    = "http://www.w3.org/2000/09/xmldsig#"
	NSSpeke = "urn:aws:amazon:com:speke"
)

// conventionalPrefix is the prefix NewChild declares for a namespace the
// document does not declare yet.
var conventionalPrefix = map[string]string{
	NS: "cpix", NSPSKC: "pskc", NSEnc: "enc", NSDS: "ds", NSSpeke: "speke",
}

// Document is a parsed (or new) CPIX document: an XML tree that keeps
// everything it was given, plus helpers that read and edit it by namespace
// URI and local name.
//
// Root is the CPIX element; edit the tree through it (etree API) or the
// helpers, but do not replace it. A Document is not safe for concurrent use.
type Document struct {
	Root *etree.Element
	doc  *etree.Document
}

// New returns an empty CPIX document whose root declares the cpix namespace
// as the default namespace: <CPIX xmlns="urn:dashif:org:cpix"/>.
func New() *Document {
	doc := etree.NewDocument()
	doc.WriteSettings = writeSettings
	root := doc.CreateElement("CPIX")
	root.CreateAttr("xmlns", NS)
	return &Document{Root: root, doc: doc}
}

// Bytes serializes the document as UTF-8 with an XML declaration saying so,
// whatever the input's encoding was. Everything else is written as held:
// prefixes, order, comments, whitespace.
func (d *Document) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	d.write(&buf)
	return buf.Bytes(), nil
}

// WriteTo writes what Bytes returns to w, through a pooled buffer.
func (d *Document) WriteTo(w io.Writer) (int64, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		// The answer holds keys: clear it before anyone reuses the memory.
		b := buf.Bytes()
		clear(b[:cap(b)])
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	d.write(buf)
	n, err := w.Write(buf.Bytes())
	return int64(n), err
}

// bufPool holds the buffers of WriteTo; a filled SPEKE answer of 8 keys
// for three DRM systems is some 80 kB.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuffer = 1 << 20

func (d *Document) write(buf *bytes.Buffer) {
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	if len(d.doc.Child) > 0 {
		if _, ok := d.doc.Child[0].(*etree.Element); ok {
			buf.WriteByte('\n')
		}
	}
	writeTokens(buf, d.doc.Child)
}

// Version returns CPIX@version, or "" when the attribute is missing (CPIX
// 2.0/2.2 documents, SPEKE v1).
func (d *Document) Version() string { v, _ := Attr(d.Root, "version"); return v }

// ContentKeys returns the ContentKeyList/ContentKey elements.
func (d *Document) ContentKeys() []*etree.Element {
	return Children(Child(d.Root, NS, "ContentKeyList"), NS, "ContentKey")
}

// DRMSystems returns the DRMSystemList/DRMSystem elements.
func (d *Document) DRMSystems() []*etree.Element {
	return Children(Child(d.Root, NS, "DRMSystemList"), NS, "DRMSystem")
}

// Is reports whether e is the element {ns}local.
func Is(e *etree.Element, ns, local string) bool {
	return e != nil && e.Tag == local && e.NamespaceURI() == ns
}

// Children returns the child elements of e named {ns}local, in document
// order. It matches the namespace URI, never the prefix. A nil e has none.
func Children(e *etree.Element, ns, local string) []*etree.Element {
	if e == nil {
		return nil
	}
	var out []*etree.Element
	for _, c := range e.ChildElements() {
		if Is(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

// Child returns the first child element of e named {ns}local, or nil.
func Child(e *etree.Element, ns, local string) *etree.Element {
	if e == nil {
		return nil
	}
	for _, c := range e.ChildElements() {
		if Is(c, ns, local) {
			return c
		}
	}
	return nil
}

// Path follows Child through steps of alternating namespace and local name
// (ns1, local1, ns2, local2, …) and returns nil if any step is missing.
func Path(e *etree.Element, steps ...string) *etree.Element {
	for i := 0; i+1 < len(steps) && e != nil; i += 2 {
		e = Child(e, steps[i], steps[i+1])
	}
	return e
}

// Attr returns the value of e's unqualified attribute name (CPIX attributes
// such as kid are unqualified) and whether it is present. Unlike etree's
// SelectAttr it never matches a prefixed attribute.
func Attr(e *etree.Element, name string) (string, bool) {
	if e == nil {
		return "", false
	}
	for _, a := range e.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value, true
		}
	}
	return "", false
}

// ErrMissingAttr is wrapped by UUIDAttr when the attribute is absent.
var ErrMissingAttr = errors.New("cpix: required attribute missing")

// UUIDAttr parses e's attribute name (kid, systemId, dependsOnKey) as a
// dashed UUID of either case (drm.ParseKeyID). Errors wrap ErrMissingAttr
// or drm.ErrInvalidKeyID and name the element and attribute.
func UUIDAttr(e *etree.Element, name string) (drm.KeyID, error) {
	v, ok := Attr(e, name)
	if !ok {
		return drm.KeyID{}, fmt.Errorf("%w: %s@%s", ErrMissingAttr, e.Tag, name)
	}
	id, err := drm.ParseKeyID(strings.TrimSpace(v))
	if err != nil {
		return drm.KeyID{}, fmt.Errorf("cpix: %s@%s %q: %w", e.Tag, name, v, err)
	}
	return id, nil
}

// Base64Text decodes e's text as base64, ignoring XML whitespace (line
// breaks of pretty-printed documents). The error does not quote the text.
func Base64Text(e *etree.Element) ([]byte, error) {
	t := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, e.Text())
	b, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		return nil, fmt.Errorf("cpix: %s is not valid base64 (%d characters)", e.Tag, len(t))
	}
	return b, nil
}

// name is an expanded XML name.
type name struct{ ns, local string }

// childOrder lists, per parent, the XSD sequence of its children (CPIX
// 2.3 and 2.4 merged). Children not listed rank after all listed ones
// ("##other" extensions, unknown elements). Where the XSD has a choice the
// alternatives share a rank.
var childOrder = map[name][]name{
	{NS, "CPIX"}: {
		{NS, "DeliveryDataList"}, {NS, "ContentKeyList"}, {NS, "DRMSystemList"},
		{NS, "ContentKeyPeriodList"}, {NS, "ContentKeyUsageRuleList"},
		{NS, "UpdateHistoryItemList"}, {NSDS, "Signature"},
	},
	{NS, "DeliveryData"}: {
		{NS, "DeliveryKey"}, {NS, "DocumentKey"}, {NS, "MACMethod"}, {NS, "Description"},
		{NS, "SendingEntity"}, {NS, "SenderPointOfContact"}, {NS, "ReceivingEntity"},
	},
	// 2.3 KeyType (Issuer … Extensions) and 2.4 ContentKeyType (HDCPData, Data).
	{NS, "ContentKey"}:  keyTypeOrder,
	{NS, "DocumentKey"}: keyTypeOrder,
	{NS, "DRMSystem"}: {
		{NS, "PSSH"}, {NS, "ContentProtectionData"}, {NS, "URIExtXKey"}, {NS, "HLSSignalingData"},
		{NS, "SmoothStreamingProtectionHeaderData"}, {NS, "HDSSignalingData"},
	},
	{NS, "ContentKeyUsageRule"}: {
		{NS, "KeyPeriodFilter"}, {NS, "LabelFilter"}, {NS, "VideoFilter"},
		{NS, "AudioFilter"}, {NS, "BitrateFilter"},
	},
	// pskc:KeyDataType, the type of cpix:Data.
	{NS, "Data"}: {
		{NSPSKC, "Secret"}, {NSPSKC, "Counter"}, {NSPSKC, "Time"},
		{NSPSKC, "TimeInterval"}, {NSPSKC, "TimeDrift"},
	},
	{NSPSKC, "Secret"}: {{NSPSKC, "PlainValue"}, {NSPSKC, "ValueMAC"}},
	// xenc:EncryptedDataType.
	{NSPSKC, "EncryptedValue"}: encryptedOrder,
	{NSPSKC, "MACKey"}:         encryptedOrder,
	// MACMethod/Key in both the DASH-IF and the AWS dialect.
	{NS, "Key"}: {
		{NSEnc, "EncryptionMethod"}, {NSDS, "KeyInfo"}, {NSEnc, "CipherData"},
		{NSPSKC, "EncryptedValue"}, {NSPSKC, "ValueMAC"},
	},
	{NS, "MACMethod"}: {{NSPSKC, "MACKey"}},
}

var keyTypeOrder = []name{
	{NS, "Issuer"}, {NS, "AlgorithmParameters"}, {NS, "KeyProfileId"}, {NS, "KeyReference"},
	{NS, "FriendlyName"}, {NS, "HDCPData"}, {NS, "Data"}, {NS, "UserId"}, {NS, "Policy"}, {NS, "Extensions"},
}

var encryptedOrder = []name{
	{NSEnc, "EncryptionMethod"}, {NSDS, "KeyInfo"}, {NSEnc, "CipherData"}, {NSEnc, "EncryptionProperties"},
}

// sameRank lists names that share a rank with another (XSD choices).
var sameRank = map[name]name{
	{NSPSKC, "EncryptedValue"}:  {NSPSKC, "PlainValue"},
	{NSPSKC, "MACKeyReference"}: {NSPSKC, "MACKey"},
}

func rank(order []name, n name) int {
	if alias, ok := sameRank[n]; ok {
		n = alias
	}
	for i, o := range order {
		if o == n {
			return i
		}
	}
	return len(order)
}

// NewChild creates the element {ns}local under parent and returns it.
//
// Prefix: the element gets the prefix the document already uses for ns in
// parent's scope; if ns is parent's default namespace it is unprefixed (a
// default-namespace document gets unprefixed cpix elements). If ns is not
// declared in scope, NewChild declares it on the root element with the
// conventional prefix (cpix, pskc, enc, ds, speke; "ns" otherwise), adding a
// digit if that prefix is already bound in parent's scope.
//
// Position: under the parents whose XSD fixes an order, the element goes
// after the last existing child that precedes or equals it in that order and
// before the first that follows it; elsewhere it is appended. The orders
// handled are:
//
//   - CPIX: DeliveryDataList, ContentKeyList, DRMSystemList,
//     ContentKeyPeriodList, ContentKeyUsageRuleList, UpdateHistoryItemList,
//     ds:Signature
//   - DeliveryData: DeliveryKey, DocumentKey, MACMethod, Description,
//     SendingEntity, SenderPointOfContact, ReceivingEntity
//   - ContentKey and DocumentKey: Issuer, AlgorithmParameters, KeyProfileId,
//     KeyReference, FriendlyName (2.3 KeyType), HDCPData (2.4), Data,
//     UserId, Policy, Extensions
//   - DRMSystem: PSSH, ContentProtectionData, URIExtXKey, HLSSignalingData,
//     SmoothStreamingProtectionHeaderData, HDSSignalingData, then any other
//     element (speke:*, vendor extensions)
//   - ContentKeyUsageRule: KeyPeriodFilter, LabelFilter, VideoFilter,
//     AudioFilter, BitrateFilter, other filters
//   - Data: pskc:Secret, Counter, Time, TimeInterval, TimeDrift, other
//   - pskc:Secret: PlainValue or EncryptedValue, then ValueMAC
//   - pskc:EncryptedValue, pskc:MACKey: enc:EncryptionMethod, ds:KeyInfo,
//     enc:CipherData, enc:EncryptionProperties
//   - MACMethod/Key: enc:EncryptionMethod, ds:KeyInfo, enc:CipherData,
//     pskc:EncryptedValue, pskc:ValueMAC
//   - MACMethod: pskc:MACKey or MACKeyReference, then other (cpix:Key)
func (d *Document) NewChild(parent *etree.Element, ns, local string) *etree.Element {
	e := etree.NewElement(local)
	e.Space = d.prefixFor(parent, ns)
	if ns == "" && defaultNS(parent) != "" {
		e.CreateAttr("xmlns", "") // a default namespace is in scope; undeclare it
	}
	order, ok := childOrder[name{parent.NamespaceURI(), parent.Tag}]
	if !ok {
		parent.AddChild(e)
		return e
	}
	r := rank(order, name{ns, local})
	for _, c := range parent.ChildElements() {
		if rank(order, name{c.NamespaceURI(), c.Tag}) > r {
			parent.InsertChildAt(c.Index(), e)
			return e
		}
	}
	parent.AddChild(e)
	return e
}

// prefixFor returns the prefix that names ns at parent, declaring one on
// the root when there is none.
func (d *Document) prefixFor(parent *etree.Element, ns string) string {
	bound := map[string]bool{} // prefixes bound by a nearer element
	for e := parent; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if a.Space == "" && a.Key == "xmlns" {
				if !bound[""] && a.Value == ns {
					return ""
				}
				bound[""] = true
			}
		}
		for _, a := range e.Attr {
			if a.Space == "xmlns" {
				if !bound[a.Key] && a.Value == ns {
					return a.Key
				}
				bound[a.Key] = true
			}
		}
	}
	if ns == "" {
		return ""
	}
	base, ok := conventionalPrefix[ns]
	if !ok {
		base = "ns"
	}
	p := base
	for i := 1; bound[p] || p == "xml" || p == "xmlns"; i++ {
		p = base + strconv.Itoa(i)
	}
	d.Root.CreateAttr("xmlns:"+p, ns)
	return p
}

// defaultNS returns the default namespace in scope at e.
func defaultNS(e *etree.Element) string {
	for ; e != nil; e = e.Parent() {
		if v, ok := Attr(e, "xmlns"); ok {
			return v
		}
	}
	return ""
}

// ensureChild returns the first child {ns}local of parent, creating it with
// NewChild when there is none.
func (d *Document) ensureChild(parent *etree.Element, ns, local string) *etree.Element {
	if c := Child(parent, ns, local); c != nil {
		return c
	}
	return d.NewChild(parent, ns, local)
}

// removeChildren removes every child {ns}local of parent.
func removeChildren(parent *etree.Element, ns, local string) {
	for _, c := range Children(parent, ns, local) {
		parent.RemoveChild(c)
	}
}
