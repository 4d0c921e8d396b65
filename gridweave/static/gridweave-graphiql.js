// The GraphiQL page, from the package's own files (no CDN). Queries and mutations go over HTTP;
// subscriptions over a WebSocket (graphql-transport-ws) whose connection_init payload carries
// the headers typed into the Headers tab, e.g. {"Authorization": "Bearer ..."}.
(function () {
  "use strict";
  var url = window.location.origin + window.location.pathname;
  var subscriptionUrl = url.replace(/^http/, "ws");
  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl });
  var explorer = GraphiQLPluginExplorer.explorerPlugin();
  var welcome =
    "# gridweave GraphiQL\n" +
    "#\n" +
    "# Sign in first (the token goes into the Headers tab as\n" +
    '# {"Authorization": "Bearer <token>"}):\n' +
    "#\n" +
    "# mutation {\n" +
    '#   login(input: { email: "...", password: "..." }) { token userErrors { code message } }\n' +
    "# }\n";
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: welcome,
      plugins: [explorer],
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    })
  );
})();
