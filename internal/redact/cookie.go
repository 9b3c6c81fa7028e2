package redact

import "strings"

// cookieAttributes are the Set-Cookie attributes: they say where and how
// long a cookie applies, not what it holds, and help a reader.
var cookieAttributes = map[string]bool{
	"path": true, "domain": true, "expires": true, "max-age": true, "samesite": true,
	"secure": true, "httponly": true, "partitioned": true, "priority": true, "version": true, "comment": true,
}

// redactCookies masks the values of Cookie and Set-Cookie headers
// (Cookie: session=…; csrftoken=…), whatever the cookies are called: a
// session ID is as good as a password. Cookie names and Set-Cookie
// attributes stay. The header may be quoted (JSON), or a list, as in JSON
// arrays and Go's printing of http.Header (Set-Cookie:[sid=…; Path=/]).
func redactCookies(s string, _ *carry) string {
	var out strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ':' && s[i] != '=' {
			continue
		}
		key, _ := keyBefore(s[:i])
		if w := strings.ToLower(lastWord(key)); w != "cookie" && w != "cookies" {
			continue
		}
		j := skipSpaces(s, i+1)
		if j < len(s) && s[j] == '[' {
			j = skipSpaces(s, j+1)
		}
		var quote byte
		if j < len(s) && (s[j] == '"' || s[j] == '\'') {
			quote = s[j]
			j++
		}
		for {
			j = skipSpaces(s, j)
			ns := j
			for j < len(s) && !strings.ContainsRune("=; \t\r\n\"',[]\\", rune(s[j])) {
				j++
			}
			name := s[ns:j]
			if name == "" {
				break
			}
			if j < len(s) && s[j] == '=' {
				j++
				vs := j
				if cookieAttributes[strings.ToLower(name)] {
					// Expires has spaces and a comma in it.
					for j < len(s) && !strings.ContainsRune(";\"'\\]\r\n", rune(s[j])) {
						j++
					}
				} else {
					for j < len(s) && !strings.ContainsRune("; \t\r\n\"',]\\", rune(s[j])) {
						j++
					}
					if j > vs && vs >= last && !strings.HasPrefix(s[vs:], Mask[:len(Mask)-1]) {
						out.WriteString(s[last:vs])
						out.WriteString(Mask)
						last = j
					}
				}
			}
			k := skipSpaces(s, j)
			if k < len(s) && s[k] == ';' {
				j = k + 1
				continue
			}
			// The next string of a list: "a=b", "c=d".
			if quote != 0 && k < len(s) && s[k] == quote {
				if m := skipSpaces(s, k+1); m < len(s) && s[m] == ',' {
					if m = skipSpaces(s, m+1); m < len(s) && s[m] == quote {
						j = m + 1
						continue
					}
				}
			}
			break
		}
		i = max(i, j-1)
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

func skipSpaces(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}
