package mailapi

import (
	"io"
	"mime/quotedprintable"
	"strconv"
)

func quotedPrintable(r io.Reader) io.Reader { return quotedprintable.NewReader(r) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
