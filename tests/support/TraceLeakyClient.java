// An Apache HttpClient 4.5 client that leaks the connections of its 403 responses,
// for the flight recorder tests (tests/it/trace.rs). As behind a load balancer, the 403
// carries a 2.4 KB HTML page written with its head in one response, so the client
// reads the small body ahead with the headers and the kernel keeps nothing of it:
// only a recorder armed before the leak can name the request.
//
// Its own server (com.sun.net.httpserver on 127.0.0.1, an ephemeral port) closes
// idle connections after one second (-Dsun.net.httpserver.idleInterval=1), so each
// leaked socket ends in CLOSE_WAIT.
//
// Usage: java TraceLeakyClient N
//   GET /ok (consumed) once, then N x GET /forbidden?token=... (403, never consumed
//   or closed: each keeps its connection leased). Prints {"pid": P, "port": Q}
//   and waits until stdin closes.

import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import org.apache.http.HttpResponse;
import org.apache.http.client.methods.HttpGet;
import org.apache.http.impl.client.CloseableHttpClient;
import org.apache.http.impl.client.HttpClients;
import org.apache.http.impl.conn.PoolingHttpClientConnectionManager;
import org.apache.http.util.EntityUtils;

public class TraceLeakyClient {
    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        StringBuilder page = new StringBuilder("<html><head><title>403 Forbidden</title></head><body>");
        while (page.length() < 2400) {
            page.append("<p>forbidden</p>");
        }
        byte[] forbidden = page.append("</body></html>").toString().getBytes("UTF-8");

        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
        server.createContext("/", exchange -> {
            boolean deny = exchange.getRequestURI().getPath().startsWith("/forbidden");
            byte[] body = deny ? forbidden : "ok\n".getBytes("UTF-8");
            exchange.getResponseHeaders().set("Content-Type", deny ? "text/html" : "text/plain");
            exchange.sendResponseHeaders(deny ? 403 : 200, body.length);
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(body);
            }
        });
        server.start();
        String base = "http://127.0.0.1:" + server.getAddress().getPort();

        PoolingHttpClientConnectionManager cm = new PoolingHttpClientConnectionManager();
        cm.setMaxTotal(n + 2);
        cm.setDefaultMaxPerRoute(n + 2);
        CloseableHttpClient client = HttpClients.custom().setConnectionManager(cm).build();
        HttpResponse ok = client.execute(new HttpGet(base + "/ok"));
        EntityUtils.consume(ok.getEntity());
        List<HttpResponse> leaked = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            HttpResponse r = client.execute(new HttpGet(base + "/forbidden?token=secret" + i));
            if (r.getStatusLine().getStatusCode() != 403) {
                throw new IllegalStateException("expected a 403: " + r.getStatusLine());
            }
            leaked.add(r); // never consumed, never closed: the leak
        }
        System.out.println("{\"pid\": " + ProcessHandle.current().pid()
                + ", \"port\": " + server.getAddress().getPort() + "}");
        System.out.flush();
        while (System.in.read() >= 0) {
        }
        System.exit(0);
    }
}
