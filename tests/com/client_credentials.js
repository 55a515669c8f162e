// The reference sample in JScript over libdpop's COM objects, as client_credentials.vbs is in
// VBScript: a key, the AuthToken settings, one API call, a second one reusing the token.
//
//   cscript //nologo client_credentials.js KEY_FILE TOKEN_ENDPOINT API_URL CLIENT_ID CLIENT_SECRET SESSION_LOG
var args = WScript.Arguments;
if (args.length < 6) {
    WScript.Echo("usage: client_credentials.js KEY_FILE TOKEN_ENDPOINT API_URL CLIENT_ID CLIENT_SECRET SESSION_LOG");
    WScript.Quit(2);
}
var keyFile = args(0), tokenEndpoint = args(1), apiEndpoint = args(2);
var clientId = args(3), clientSecret = args(4), sessionLog = args(5);

var success = false;

var privKey = new ActiveXObject("Dpop.PrivateKey");
success = privKey.LoadAnyFormatFile(keyFile, "");
if (success == false) {
    WScript.Echo(privKey.LastErrorText);
    WScript.Quit(1);
}

var json = new ActiveXObject("Dpop.JsonObject");
success = json.UpdateString("client_secret", clientSecret);
success = json.UpdateString("client_id", clientId);
success = json.UpdateString("token_endpoint", tokenEndpoint);
success = json.UpdateString("scope", "api");

var http = new ActiveXObject("Dpop.Http");
http.SessionLogFilename = sessionLog;

success = http.SetDPoPKey(privKey);
if (success == false) {
    WScript.Echo(http.LastErrorText);
    WScript.Quit(1);
}

http.AuthToken = json.Emit();

var resp = http.QuickGetStr(apiEndpoint);
if (http.LastMethodSuccess == false) {
    WScript.Echo(http.LastErrorText);
    WScript.Quit(1);
}

var statusCode = http.LastStatus;

WScript.Echo("status: " + statusCode);
WScript.Echo(resp);

resp = http.QuickGetStr(apiEndpoint);
if (http.LastMethodSuccess == false) {
    WScript.Echo(http.LastErrorText);
    WScript.Quit(1);
}
WScript.Echo("second status: " + http.LastStatus);
