package event

import "strconv"

// HTTP is EVE's http object with Suricata's extended fields: one HTTP/1.x
// request and its response. Status is 0 and Length the body bytes seen
// when the response is missing or cut short.
type HTTP struct {
	Hostname        string `json:"hostname,omitempty"`
	HTTPPort        uint16 `json:"http_port,omitempty"`
	URL             string `json:"url,omitempty"`
	HTTPUserAgent   string `json:"http_user_agent,omitempty"`
	XFF             string `json:"xff,omitempty"`
	HTTPContentType string `json:"http_content_type,omitempty"`
	HTTPRefer       string `json:"http_refer,omitempty"`
	HTTPMethod      string `json:"http_method,omitempty"`
	Protocol        string `json:"protocol,omitempty"`
	Status          int    `json:"status,omitempty"`
	Redirect        string `json:"redirect,omitempty"`
	Length          int64  `json:"length"`
}

func (h *HTTP) appendJSON(dst []byte) []byte {
	dst = append(dst, `,"http":{`...)
	start := len(dst)
	dst = appendStringField(dst, "hostname", h.Hostname)
	dst = appendUintField(dst, "http_port", uint64(h.HTTPPort))
	dst = appendStringField(dst, "url", h.URL)
	dst = appendStringField(dst, "http_user_agent", h.HTTPUserAgent)
	dst = appendStringField(dst, "xff", h.XFF)
	dst = appendStringField(dst, "http_content_type", h.HTTPContentType)
	dst = appendStringField(dst, "http_refer", h.HTTPRefer)
	dst = appendStringField(dst, "http_method", h.HTTPMethod)
	dst = appendStringField(dst, "protocol", h.Protocol)
	dst = appendUintField(dst, "status", uint64(max(h.Status, 0)))
	dst = appendStringField(dst, "redirect", h.Redirect)
	dst = append(dst, `,"length":`...)
	dst = strconv.AppendInt(dst, h.Length, 10)
	return closeObject(dst, start)
}
