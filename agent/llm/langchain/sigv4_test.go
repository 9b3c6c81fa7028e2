package langchain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// sigv4 checks AWS Signature Version 4 on a request, written from AWS's
// description of the algorithm ("Create a signed AWS API request", IAM
// user guide) rather than taken from the SDK, so that it can catch the
// SDK's client being set up wrong: wrong region or service in the scope, a
// wrong secret, a body changed after signing, a stale clock.
type sigv4 struct {
	service, region string
	// secrets maps access key ids to secret keys.
	secrets map[string]string
	now     func() time.Time
}

// awsDenial is how AWS refuses a request: status, the error type it puts
// in x-amzn-ErrorType, and the message.
type awsDenial struct {
	status int
	code   string
	msg    string
}

const sigMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// verify returns nil when r, with body, is signed by a known key for the
// verifier's region and service within five minutes of now.
func (v sigv4) verify(r *http.Request, body []byte) *awsDenial {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return &awsDenial{403, "MissingAuthenticationTokenException", "Missing Authentication Token"}
	}
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != "AWS4-HMAC-SHA256" {
		return &awsDenial{400, "IncompleteSignatureException", "Unsupported AWS 'algorithm': '" + alg + "'"}
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		fields[k] = val
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return &awsDenial{400, "IncompleteSignatureException", fmt.Sprintf("Authorization header requires '%s' parameter. Authorization=%s", k, auth)}
		}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 {
		return &awsDenial{400, "IncompleteSignatureException", "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '" + fields["Credential"] + "'"}
	}
	akid, day, region, service, term := scope[0], scope[1], scope[2], scope[3], scope[4]
	secret, ok := v.secrets[akid]
	if !ok {
		return &awsDenial{403, "UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	at, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return &awsDenial{400, "IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."}
	}
	now := v.now().UTC()
	switch {
	case at.Before(now.Add(-5 * time.Minute)):
		return &awsDenial{403, "InvalidSignatureException", fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
			amzDate, now.Add(-5*time.Minute).Format("20060102T150405Z"), now.Format("20060102T150405Z"))}
	case at.After(now.Add(5 * time.Minute)):
		return &awsDenial{403, "InvalidSignatureException", fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 5 min.)",
			amzDate, now.Add(5*time.Minute).Format("20060102T150405Z"), now.Format("20060102T150405Z"))}
	case day != amzDate[:8]:
		return &awsDenial{403, "InvalidSignatureException", fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", day, amzDate[:8], amzDate)}
	case region != v.region:
		return &awsDenial{403, "InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", region)}
	case service != v.service:
		return &awsDenial{403, "InvalidSignatureException", fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", v.service)}
	case term != "aws4_request":
		return &awsDenial{403, "InvalidSignatureException", "Credential should be scoped with a valid terminator: 'aws4_request', not '" + term + "'. "}
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !slices.Contains(signed, "host") {
		return &awsDenial{403, "InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."}
	}
	payload := hexSHA256(body)
	if h := r.Header.Get("X-Amz-Content-Sha256"); h == "UNSIGNED-PAYLOAD" {
		payload = h
	} else if h != "" && h != payload {
		return &awsDenial{400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."}
	}
	canonical := canonicalRequest(r, signed, payload)
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256", amzDate, strings.Join(scope[1:], "/"), hexSHA256([]byte(canonical))}, "\n")
	key := []byte("AWS4" + secret)
	for _, part := range []string{day, region, service, term} {
		key = hmacSHA256(key, part)
	}
	if want := hex.EncodeToString(hmacSHA256(key, toSign)); !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return &awsDenial{403, "InvalidSignatureException", sigMismatch}
	}
	return nil
}

// canonicalRequest is method, URI, query, headers, signed header names and
// the payload's hash, one per line.
func canonicalRequest(r *http.Request, signed []string, payloadHash string) string {
	// Every service but S3 encodes the path a second time: the request
	// carries it encoded once, the canonical form encodes that again.
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	q, _ := url.ParseQuery(r.URL.RawQuery)
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	slices.Sort(pairs)
	var headers strings.Builder
	for _, name := range signed {
		var val string
		switch name {
		case "host":
			val = r.Host
		case "content-length":
			val = fmt.Sprint(r.ContentLength)
		default:
			var vs []string
			for _, v := range r.Header.Values(name) {
				vs = append(vs, strings.Join(strings.Fields(v), " "))
			}
			val = strings.Join(vs, ",")
		}
		headers.WriteString(name + ":" + val + "\n")
	}
	return strings.Join([]string{r.Method, uriEncode(path, false), strings.Join(pairs, "&"), headers.String(), strings.Join(signed, ";"), payloadHash}, "\n")
}

// uriEncode percent-encodes every byte but the unreserved characters (and
// '/' when encodeSlash is false), with upper-case hex, as SigV4 requires.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~', c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// sign signs r as a client would, for tests that need requests the SDK
// would never send (stale, tampered, scoped elsewhere).
func (v sigv4) sign(r *http.Request, body []byte, akid, secret string, at time.Time) {
	amzDate := at.UTC().Format("20060102T150405Z")
	r.Header.Set("X-Amz-Date", amzDate)
	signed := []string{"content-type", "host", "x-amz-date"}
	scope := []string{amzDate[:8], v.region, v.service, "aws4_request"}
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256", amzDate, strings.Join(scope, "/"), hexSHA256([]byte(canonicalRequest(r, signed, hexSHA256(body))))}, "\n")
	key := []byte("AWS4" + secret)
	for _, part := range scope {
		key = hmacSHA256(key, part)
	}
	r.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		akid, strings.Join(scope, "/"), strings.Join(signed, ";"), hex.EncodeToString(hmacSHA256(key, toSign))))
}

// The verifier reproduces the worked example in AWS's SigV4 documentation
// (IAM ListUsers, 2015-08-30), so it is checked against AWS, not against
// itself or the SDK.
func TestSigV4VerifierKnownVector(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	v := sigv4{service: "iam", region: "us-east-1", secrets: map[string]string{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}, now: func() time.Time { return at }}
	if got := hexSHA256([]byte(canonicalRequest(r, []string{"content-type", "host", "x-amz-date"}, hexSHA256(nil)))); got != "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59" {
		t.Errorf("canonical request hash = %s", got)
	}
	if d := v.verify(r, nil); d != nil {
		t.Fatalf("AWS's own example refused: %+v", d)
	}
	v.secrets["AKIDEXAMPLE"] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz"
	if d := v.verify(r, nil); d == nil || d.msg != sigMismatch {
		t.Errorf("a wrong secret: %+v", d)
	}
}
