// Package arch holds no code: its test checks the import rules of the
// module's layout (README, Layout), so that the layers stay apart:
//
//   - domain packages (drm, rotation, signaling, authn, keystore and its
//     backends, issuer, access, cpix) import no generated API code, no gRPC, no
//     net/http, no API wire codec (protojson, grpc-gateway), no front-end, no server, no app;
//   - a front-end (frontend/…) imports no other front-end, not server and
//     not app;
//   - server imports no front-end, no generated API code and not app;
//   - nothing imports cmd/….
package arch
