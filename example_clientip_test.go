package magiclink_test

import (
	"fmt"
	"net/http/httptest"
	"net/netip"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/mailer/mailtest"
	"github.com/magiclink-go/magiclink/store/memstore"
)

// Requests that reach the app through a trusted proxy are counted by the
// address the proxy reports; anyone else by their own.
func ExampleAuth_ClientIP() {
	auth, err := magiclink.New(magiclink.Config{BaseURL: "https://app.example", Store: memstore.New(memstore.Config{}),
		Mailer: mailtest.New(), TrustedProxies: []string{"10.0.0.0/8"}, ClientIPHeader: "X-Forwarded-For"})
	if err != nil {
		panic(err)
	}
	defer auth.Close()
	r := httptest.NewRequest("POST", "/signin", nil)
	r.RemoteAddr = "10.0.0.5:40000" // the load balancer
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.7")
	fmt.Println(auth.ClientIP(r))
	r.RemoteAddr = "198.51.100.9:5555" // not a proxy: the header is ignored
	fmt.Println(auth.ClientIP(r))
	ctx := magiclink.WithClientIP(r.Context(), auth.ClientIP(r))
	ip, _ := magiclink.ClientIPFrom(ctx)
	fmt.Println(ip == netip.MustParseAddr("198.51.100.9"))
	// Output:
	// 203.0.113.7
	// 198.51.100.9
	// true
}
