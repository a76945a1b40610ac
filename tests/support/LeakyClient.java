// A small Apache HttpClient 4.5 client that leaks the connections of its 403
// responses, against a loopback server of its own (com.sun.net.httpserver on
// 127.0.0.1, an ephemeral port). It writes HttpClient's DEBUG log to stderr, which
// the pool-log tests read.
//
// Usage: java LeakyClient MODE MAX_PER_ROUTE ROUNDS
//   MODE leak:    GET /ok (body consumed) then GET /forbidden (403, body never
//                 consumed or closed: the connection stays leased) until the pool
//                 times out ("Timeout waiting for connection from pool").
//   MODE healthy: the same requests, every response consumed.
// Exit status: 0 when the expected outcome happened (leak: the pool timed out;
// healthy: every round completed), 1 otherwise.

import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import org.apache.http.HttpResponse;
import org.apache.http.client.config.RequestConfig;
import org.apache.http.client.methods.HttpGet;
import org.apache.http.conn.ConnectionPoolTimeoutException;
import org.apache.http.impl.client.CloseableHttpClient;
import org.apache.http.impl.client.HttpClients;
import org.apache.http.impl.conn.PoolingHttpClientConnectionManager;
import org.apache.http.util.EntityUtils;

public class LeakyClient {
    public static void main(String[] args) throws Exception {
        String mode = args[0];
        int maxPerRoute = Integer.parseInt(args[1]);
        int rounds = Integer.parseInt(args[2]);

        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
        server.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            int status = path.startsWith("/forbidden") ? 403 : 200;
            byte[] body = (status == 403 ? "forbidden\n" : "ok\n").getBytes("UTF-8");
            exchange.sendResponseHeaders(status, body.length);
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(body);
            }
        });
        server.start();
        int port = server.getAddress().getPort();
        String base = "http://127.0.0.1:" + port;

        PoolingHttpClientConnectionManager cm = new PoolingHttpClientConnectionManager();
        cm.setMaxTotal(maxPerRoute * 2);
        cm.setDefaultMaxPerRoute(maxPerRoute);
        RequestConfig rc = RequestConfig.custom()
                .setConnectionRequestTimeout(500)
                .setConnectTimeout(2000)
                .setSocketTimeout(2000)
                .build();
        int status = 1;
        try (CloseableHttpClient client = HttpClients.custom()
                .setConnectionManager(cm).setDefaultRequestConfig(rc).build()) {
            for (int i = 0; i < rounds; i++) {
                HttpResponse ok = client.execute(new HttpGet(base + "/ok?round=" + i));
                EntityUtils.consume(ok.getEntity());
                HttpResponse r = client.execute(new HttpGet(base + "/forbidden?round=" + i));
                if (mode.equals("healthy") || r.getStatusLine().getStatusCode() != 403) {
                    EntityUtils.consume(r.getEntity());
                }
                // Spread the leases over time so rates and ages have a clock to read.
                Thread.sleep(20);
            }
            status = mode.equals("healthy") ? 0 : 1;
        } catch (ConnectionPoolTimeoutException e) {
            System.err.println("LeakyClient: " + e);
            status = mode.equals("leak") ? 0 : 1;
        } finally {
            server.stop(0);
        }
        System.exit(status);
    }
}
