package nagra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyserver/keyserver/access"
	keyserverv1 "github.com/keyserver/keyserver/gen/keyserver/v1"
	"github.com/keyserver/keyserver/keystore"
	"github.com/keyserver/keyserver/rotation"
	"github.com/keyserver/keyserver/signaling"
)

// errorDomain is the ErrorInfo.domain of every error this server returns.
const errorDomain = "keyserver"

// requestError is a client error: what was wrong, with which field, and
// the API status it maps to. Its message never carries key material.
type requestError struct {
	Reason keyserverv1.Status
	Field  string // JSON path of the offending field, e.g. "drmContent.drmContentId"
	Msg    string
}

func (e *requestError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func invalid(field, format string, args ...any) *requestError {
	return &requestError{Reason: keyserverv1.Status_INVALID_REQUEST, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func reject(reason keyserverv1.Status, field, format string, args ...any) *requestError {
	return &requestError{Reason: reason, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// codeOf is the gRPC code of each API status.
func codeOf(s keyserverv1.Status) codes.Code {
	switch s {
	case keyserverv1.Status_KEY_CONFLICT:
		return codes.AlreadyExists
	case keyserverv1.Status_UNAUTHENTICATED:
		return codes.Unauthenticated
	case keyserverv1.Status_PERMISSION_DENIED:
		return codes.PermissionDenied
	case keyserverv1.Status_UNAVALAIBLE_SERVICE:
		return codes.Unavailable
	case keyserverv1.Status_INTERNAL_ERROR:
		return codes.Internal
	}
	return codes.InvalidArgument
}

// newStatus builds the gRPC status of an API error: the code of its reason
// and a google.rpc.ErrorInfo whose reason is the API status value.
func newStatus(reason keyserverv1.Status, field, msg string) *status.Status {
	st := status.New(codeOf(reason), msg)
	info := &errdetails.ErrorInfo{Reason: reason.String(), Domain: errorDomain}
	if field != "" {
		info.Metadata = map[string]string{"field": field}
	}
	if d, err := st.WithDetails(info); err == nil {
		return d
	}
	return st
}

// toStatus is the one translation from domain errors to gRPC status. Errors
// it does not know become Internal with a generic message; the caller logs
// the cause.
func toStatus(err error) (st *status.Status, internal bool) {
	var re *requestError
	switch {
	case errors.As(err, &re):
		return newStatus(re.Reason, re.Field, re.Error()), false
	case errors.Is(err, keystore.ErrConflict):
		return newStatus(keyserverv1.Status_KEY_CONFLICT, "scheduledKey.contentKey.keyId",
			"scheduledKey.contentKey.keyId: key id is already bound to another key, IV, content or period"), false
	case errors.Is(err, keystore.ErrInvalidRequest):
		return newStatus(keyserverv1.Status_INVALID_REQUEST, "", strings.TrimPrefix(err.Error(), "keystore: ")), false
	case errors.Is(err, keystore.ErrClosed), errors.Is(err, keystore.ErrUnavailable):
		return newStatus(keyserverv1.Status_UNAVALAIBLE_SERVICE, "", "key store unavailable, retry later"), true
	case errors.Is(err, rotation.ErrBeyondHorizon):
		return newStatus(keyserverv1.Status_INVALID_REQUEST, "scheduledKey.time", "scheduledKey.time: "+strings.TrimPrefix(err.Error(), "rotation: ")), false
	case errors.Is(err, rotation.ErrBeforeEpoch):
		return newStatus(keyserverv1.Status_INVALID_REQUEST, "scheduledKey.time", "scheduledKey.time: "+strings.TrimPrefix(err.Error(), "rotation: ")), false
	case errors.Is(err, signaling.ErrInvalidContentID):
		return newStatus(keyserverv1.Status_INVALID_REQUEST, "drmContent.drmContentId", "drmContent.drmContentId: cannot be represented in the DRM signaling"), false
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled"), false
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded"), false
	}
	if s, ok := status.FromError(err); ok {
		return s, false
	}
	return newStatus(keyserverv1.Status_INTERNAL_ERROR, "", "internal error"), true
}

// reasonOf returns the API status of a gRPC status: its ErrorInfo reason
// when it has one, else the best match for its code.
func reasonOf(st *status.Status) keyserverv1.Status {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == errorDomain {
			if v, ok := keyserverv1.Status_value[info.Reason]; ok {
				return keyserverv1.Status(v)
			}
		}
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		return keyserverv1.Status_INVALID_REQUEST
	case codes.AlreadyExists:
		return keyserverv1.Status_KEY_CONFLICT
	case codes.Unauthenticated:
		return keyserverv1.Status_UNAUTHENTICATED
	case codes.PermissionDenied:
		return keyserverv1.Status_PERMISSION_DENIED
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Canceled:
		return keyserverv1.Status_UNAVALAIBLE_SERVICE
	}
	return keyserverv1.Status_INTERNAL_ERROR
}

// logInternal logs the cause of an internal error. The cause never reaches
// the client. Key material never reaches errors in the first place.
func logInternal(ctx context.Context, log *slog.Logger, method string, err error) {
	log.LogAttrs(ctx, slog.LevelError, "internal error", slog.String("method", method),
		slog.String("correlation_id", access.CorrelationID(ctx)), slog.String("error", err.Error()))
}
