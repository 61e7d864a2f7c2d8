package speke

import (
	"fmt"
	"net/http"
)

// httpError is a refusal: an HTTP status and a message for the client. The
// message never holds key material.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// unprocessable is SPEKE's answer to a document it cannot serve (HTTP 422,
// the code MediaPackage expects, with its messages where they exist).
func unprocessable(format string, args ...any) *httpError {
	return &httpError{code: http.StatusUnprocessableEntity, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *httpError {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// MediaPackage's exact messages ("Implementing SPEKE", all HTTP 422).
const (
	msgMissingContentID   = "Missing CPIX@contentId"
	msgMissingVersion     = "Missing CPIX@version"
	msgUnsupportedVersion = "Unsupported CPIX@version"
	msgMissingScheme      = "Missing ContentKey@commonEncryptionScheme for KID %s"
	msgMixedSchemes       = "Non compliant ContentKey@commonEncryptionScheme combination"
	msgUnsupportedSpeke   = "Unsupported SPEKE version"
)
