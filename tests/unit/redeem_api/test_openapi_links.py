"""The OpenAPI links of /openapi.json point at real operations, parameters and response fields."""
from __future__ import annotations

from redeem_api.openapi import spec


def _operations(document: dict) -> dict[str, dict]:
    return {op["operationId"]: op for item in document["paths"].values() for op in item.values()
            if isinstance(op, dict) and "operationId" in op}


def _schema(document: dict, node: dict) -> dict:
    ref = node.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else node


def _resolves(document: dict, schema: dict, pointer: str) -> bool:
    """Does the JSON pointer name a property the schema documents (array items by index)?"""
    for part in pointer.strip("/").split("/"):
        schema = _schema(document, schema)
        if part.isdigit() and schema.get("type") == "array":
            schema = schema["items"]
        elif part in schema.get("properties", {}):
            schema = schema["properties"][part]
        else:
            return False
    return True


def _check_expression(document: dict, expression: str, response_schema: dict, request_schema: dict | None) -> None:
    if not expression.startswith("$"):
        return  # a constant
    source, _, pointer = expression.partition("#")
    assert source in ("$response.body", "$request.body"), expression
    schema = response_schema if source == "$response.body" else request_schema
    assert schema is not None and _resolves(document, schema, pointer), expression


def test_every_link_names_a_real_operation_parameter_and_field():
    document = spec()
    operations = _operations(document)
    links = 0
    for item in document["paths"].values():
        for operation in item.values():
            request = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            for response in operation.get("responses", {}).values():
                response_schema = response.get("content", {}).get("application/json", {}).get("schema")
                for name, link in response.get("links", {}).items():
                    links += 1
                    target = operations[link["operationId"]]
                    declared = {f"{p['in']}.{p['name']}" for p in target.get("parameters", [])}
                    for parameter, expression in link.get("parameters", {}).items():
                        assert parameter in declared, (name, parameter)
                        _check_expression(document, expression, response_schema, request)
                    target_body = _schema(document, target.get("requestBody", {}).get("content", {})
                                          .get("application/json", {}).get("schema", {}))
                    for field, expression in link.get("requestBody", {}).items():
                        assert field in target_body.get("properties", {}), (name, field)
                        _check_expression(document, expression, response_schema, request)
    assert links >= 8
