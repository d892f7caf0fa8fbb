// octokit_server.mjs - the benchmark's peer: @octokit/webhooks' Node middleware verifying
// the same signed deliveries (createNodeMiddleware on node:http), answering 200.
//   node octokit_server.mjs PORT SECRET
import http from 'node:http';
import { Webhooks, createNodeMiddleware } from '@octokit/webhooks';

const [port, secret] = process.argv.slice(2);
const webhooks = new Webhooks({ secret });
webhooks.onAny(() => {});
const mw = createNodeMiddleware(webhooks, { path: '/api/github/webhooks' });
http.createServer(mw).listen(parseInt(port, 10), '127.0.0.1', () => console.log(`listening ${port}`));
