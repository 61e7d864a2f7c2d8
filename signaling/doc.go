// Package signaling builds and parses the DRM signaling a CMAF packager needs
// for one content key: the pssh box (ISO/IEC 23001-7 §8.1), the DASH
// ContentProtection descriptor carrying cenc:default_KID and cenc:pssh
// (ISO/IEC 23009-1, urn:mpeg:cenc:2013), and the HLS EXT-X-KEY tag
// (RFC 8216 §4.3.2.4), for Widevine, PlayReady, FairPlay and Nagra PRM.
//
// The byte-level reference is the project's signaling-formats.md; every
// format decision that reference leaves open is written down next to the code
// that makes it.
//
// # Systems and forms
//
//	            pssh  DASH  HLS
//	Widevine     yes   yes  yes   WidevinePsshData protobuf, pssh v0
//	PlayReady    yes   yes  no    PlayReady Object (WRMHEADER), pssh v0
//	FairPlay     no    no   yes   skd:// URI with a base64url JSON asset id
//	Nagra PRM    yes   yes  yes   base64 JSON {contentId,keyId}, pssh v0 (prm.go)
//
// Unsupported combinations return [ErrUnsupportedSystem]; a scheme other than
// cbcs or cenc (or cenc for FairPlay) returns [ErrUnsupportedScheme].
//
// # Escaping
//
// All XML text and attribute values are escaped by hand (no reflection on the
// hot path). XML 1.0 cannot carry C0 control characters other than tab, LF
// and CR, not even as character references, so a content id holding one is
// rejected with [ErrInvalidContentID] wherever it would end up in XML (the
// PlayReady CUSTOMATTRIBUTES); JSON and protobuf carry such ids unchanged.
// A content id that is not valid UTF-8 is always rejected. HLS attribute
// values are quoted-strings that cannot contain '"', CR or LF; every URI this
// package emits is checked for that before it is returned.
//
// # Parsers
//
// [ParsePSSH], [ParseWidevinePSSHData], [ParsePlayReadyObject],
// [ParseWRMHeader] and [ParseNagraPSSHData] accept what clients may send and
// are safe on hostile input: they never panic and allocate at most a small
// multiple of their input. For everything this package emits, parsing and
// marshalling again gives identical bytes.
//
// The package holds no state; every function is safe for concurrent use. It
// knows nothing about key storage, rotation policy or tenants: callers pass
// the key id, key, IV and content id in [Params].
package signaling
