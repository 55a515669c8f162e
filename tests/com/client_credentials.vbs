' The reference sample (a client_credentials token with DPoP, then one API call) in VBScript,
' line for line over libdpop's COM objects: Chilkat's class names become Dpop.*.
'
'   cscript //nologo client_credentials.vbs KEY_FILE TOKEN_ENDPOINT API_URL CLIENT_ID CLIENT_SECRET SESSION_LOG
'
' Prints "status: <code>" and the API's answer; a second call must reuse the token.
Option Explicit

Dim args, keyFile, tokenEndpoint, apiEndpoint, clientId, clientSecret, sessionLog
Set args = WScript.Arguments
If args.Count < 6 Then
    WScript.Echo "usage: client_credentials.vbs KEY_FILE TOKEN_ENDPOINT API_URL CLIENT_ID CLIENT_SECRET SESSION_LOG"
    WScript.Quit 2
End If
keyFile = args(0)
tokenEndpoint = args(1)
apiEndpoint = args(2)
clientId = args(3)
clientSecret = args(4)
sessionLog = args(5)

Dim success, privKey, json, http, resp, statusCode

success = False

Set privKey = CreateObject("Dpop.PrivateKey")

' The DPoP key: an EC (or Ed25519) private key in any supported format.
success = privKey.LoadAnyFormatFile(keyFile, "")
If (success = False) Then
    WScript.Echo privKey.LastErrorText
    WScript.Quit 1
End If

' What the HTTP object needs to fetch the access token itself (client_credentials).
Set json = CreateObject("Dpop.JsonObject")
success = json.UpdateString("client_secret", clientSecret)
success = json.UpdateString("client_id", clientId)
success = json.UpdateString("token_endpoint", tokenEndpoint)
success = json.UpdateString("scope", "api")

Set http = CreateObject("Dpop.Http")
http.SessionLogFilename = sessionLog

success = http.SetDPoPKey(privKey)
If (success = False) Then
    WScript.Echo http.LastErrorText
    WScript.Quit 1
End If

http.AuthToken = json.Emit()

' The first request fetches the token (with a DPoP proof); every request carries
' "Authorization: DPoP <token>" and a new proof.
resp = http.QuickGetStr(apiEndpoint)
If (http.LastMethodSuccess = False) Then
    WScript.Echo http.LastErrorText
    WScript.Quit 1
End If

statusCode = http.LastStatus

WScript.Echo "status: " & statusCode
WScript.Echo resp

' A second call reuses the cached token.
resp = http.QuickGetStr(apiEndpoint)
If (http.LastMethodSuccess = False) Then
    WScript.Echo http.LastErrorText
    WScript.Quit 1
End If
WScript.Echo "second status: " & http.LastStatus
