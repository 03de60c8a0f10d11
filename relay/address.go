package relay

import (
	"strings"
	"unicode/utf8"
)

// validAddress reports whether addr is a plausible mailbox for an envelope:
// local@domain within RFC 5321's length limits, one unquoted @, and no
// spaces or control characters. go-smtp has already parsed the path
// syntax; this refuses what would confuse an upstream.
func validAddress(addr string) bool {
	if len(addr) > 254 || !utf8.ValidString(addr) {
		return false
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 1 || at > 64 || at == len(addr)-1 {
		return false
	}
	if local := addr[:at]; !strings.HasPrefix(local, `"`) && strings.Contains(local, "@") {
		return false
	}
	for _, r := range addr {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' {
			return false
		}
	}
	domain := addr[at+1:]
	return !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.Contains(domain, "..")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
