' The AuthToken settings of issue 14 through the COM objects, against a local test server:
'   1. private_key_jwt with discovery: AuthToken with issuer (no token_endpoint) and an RSA
'      assertion key in a PEM file (made by openssl in tests/com/run.sh, its public JWK
'      registered with the server's --client-key); QuickGetStr gives LastStatus 200;
'   2. a rejected proof: a token issued for one key, sent with SetAccessToken by an object with
'      another key; QuickGetStr returns the 401 and LastErrorText explains it.
'
'   cscript //nologo auth_settings.vbs DPOP_KEY_FILE ASSERTION_KEY_FILE ISSUER API_URL CLIENT_ID TOKEN_ENDPOINT CLIENT_SECRET
'
' CLIENT_ID is the server's private_key_jwt client; m2m.dpop with CLIENT_SECRET its
' client_secret_post client. Exits 0 when every check passed.
Option Explicit

Dim args, dpopKeyFile, assertionKeyFile, issuer, apiUrl, clientId, tokenEndpoint, clientSecret
Set args = WScript.Arguments
If args.Count < 7 Then
    WScript.Echo "usage: auth_settings.vbs DPOP_KEY_FILE ASSERTION_KEY_FILE ISSUER API_URL CLIENT_ID TOKEN_ENDPOINT CLIENT_SECRET"
    WScript.Quit 2
End If
dpopKeyFile = args(0)
assertionKeyFile = args(1)
issuer = args(2)
apiUrl = args(3)
clientId = args(4)
tokenEndpoint = args(5)
clientSecret = args(6)

Dim passed, failed
passed = 0
failed = 0

Sub Check(what, condition, detail)
    If condition Then
        passed = passed + 1
        WScript.Echo "ok   " & what
    Else
        failed = failed + 1
        WScript.Echo "FAIL " & what & ": " & detail
    End If
End Sub

Dim success, privKey, rsaKey, json, http, resp, info

' The assertion key as a Dpop.PrivateKey too: an RSA key that signs PS256.
Set rsaKey = CreateObject("Dpop.PrivateKey")
success = rsaKey.LoadAnyFormatFile(assertionKeyFile, "")
Check "the RSA assertion key loads", success, rsaKey.LastErrorText
Check "it is an RSA key signing PS256", rsaKey.KeyType = "rsa" And rsaKey.Alg = "PS256" And rsaKey.BitLength = 2048, _
    rsaKey.KeyType & " " & rsaKey.Alg & " " & rsaKey.BitLength

' 1. private_key_jwt with discovery through issuer.
Set privKey = CreateObject("Dpop.PrivateKey")
success = privKey.LoadAnyFormatFile(dpopKeyFile, "")
Check "the DPoP key loads", success, privKey.LastErrorText

Set json = CreateObject("Dpop.JsonObject")
success = json.UpdateString("client_id", clientId)
success = json.UpdateString("issuer", issuer)
success = json.UpdateString("auth_method", "private_key_jwt")
success = json.UpdateString("client_assertion_key", assertionKeyFile)
success = json.UpdateString("scope", "api")

Set http = CreateObject("Dpop.Http")
success = http.SetDPoPKey(privKey)
http.AuthToken = json.Emit()
Check "AuthToken with issuer and private_key_jwt is accepted", http.LastMethodSuccess, http.LastErrorText
resp = http.QuickGetStr(apiUrl)
Check "QuickGetStr succeeds", http.LastMethodSuccess, http.LastErrorText
Check "LastStatus is 200", http.LastStatus = 200, http.LastStatus & " " & resp
Check "the token was issued to the private_key_jwt client", InStr(resp, """client_id"":""" & clientId & """") > 0, resp
Check "the token is bound to the DPoP key", InStr(resp, privKey.GetJwkThumbprint("SHA256")) > 0, resp
info = http.TokenInfo
Check "TokenInfo reports clock_offset", InStr(info, """clock_offset"":") > 0, info

' 2. A rejected proof. The token is fetched by hand, by an object with a key of its own.
Dim fetcher, issuedKey, body, tokenStart, tokenEnd, token, otherKey, host, text
Set issuedKey = CreateObject("Dpop.PrivateKey")
success = issuedKey.GenerateKey("ES256")
Set fetcher = CreateObject("Dpop.Http")
success = fetcher.SetDPoPKey(issuedKey)
Set resp = fetcher.HttpStr("POST", tokenEndpoint, _
    "grant_type=client_credentials&client_id=m2m.dpop&scope=api&client_secret=" & clientSecret, "", _
    "application/x-www-form-urlencoded")
token = ""
If Not resp Is Nothing Then
    body = resp.BodyStr
    tokenStart = InStr(body, """access_token"":""")
    If tokenStart > 0 Then
        tokenStart = tokenStart + Len("""access_token"":""")
        tokenEnd = InStr(tokenStart, body, """")
        token = Mid(body, tokenStart, tokenEnd - tokenStart)
    End If
End If
Check "a token fetched by hand", Len(token) > 40, fetcher.LastErrorText

Set otherKey = CreateObject("Dpop.PrivateKey")
success = otherKey.GenerateKey("EdDSA")
Set host = CreateObject("Dpop.Http")
success = host.SetDPoPKey(otherKey)
success = host.SetAccessToken(token, "DPoP")
Check "SetAccessToken", success, host.LastErrorText
resp = host.QuickGetStr(apiUrl)
Check "the 401 is returned", host.LastStatus = 401 And Len(resp) > 0, host.LastStatus & " " & resp
text = host.LastErrorText
Check "LastErrorText holds the diagnostic", InStr(text, "The server rejected the DPoP proof; probably the key") > 0, text
Check "it names the token's key and the proof's", _
    InStr(text, issuedKey.GetJwkThumbprint("")) > 0 And InStr(text, otherKey.GetJwkThumbprint("")) > 0, text
Check "it holds no token", InStr(text, token) = 0, text
' A response came back, so the method succeeded (the reference sample quits on False).
Check "LastMethodSuccess is True: a response came back", host.LastMethodSuccess, host.LastErrorText

WScript.Echo "auth_settings: " & passed & " passed, " & failed & " failed"
If failed > 0 Then WScript.Quit 1
