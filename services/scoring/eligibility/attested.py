"""The conditions of 002 art. 4 that no figure decides: attested by documents and checked by the
reviewers (art. 6(二)). Listed with every eligibility answer so the accreditation workflow shows both."""

from __future__ import annotations

from typing import Any


def _item(code: str, article: str, group: str, zh: str, en: str, evidence: str) -> dict[str, Any]:
    return {"code": code, "article": article, "group": group, "status": "to_be_attested",
            "label": {"zh": zh, "en": en}, "evidence": evidence}


ITEMS: tuple[dict[str, Any], ...] = (
    # 002 art. 4(一): base conditions
    _item("A1", "002 art. 4(一)1", "base", "属盟市范围内创新资源、产业发展最好的自治区一类工业园区",
          "The league's best class-I regional industrial park for innovation resources and industry",
          "002 art. 5(五)1: approval documents establishing the park; the league's ranking of its parks"),
    _item("A2", "002 art. 4(一)2", "base", "符合所在盟市国民经济和社会发展规划、国土空间规划、生态环境保护规划",
          "Conforms to the league's economic and social development plan, territorial spatial plan and "
          "ecological protection plan", "002 art. 5(五)2: proof of conformity with the plans"),
    _item("A3", "002 art. 4(一)3", "base",
          "符合国家关于土地节约集约利用等要求，用地布局集中，规模和土地利用结构合理，四至范围明确，发展空间充分，"
          "基础设施配套完备，产城融合规划科学，不占用永久基本农田",
          "Economical and intensive land use, compact layout, reasonable scale and structure, clear boundaries "
          "(四至范围), room to grow, complete infrastructure, a sound industry–city integration plan, no "
          "permanent basic farmland occupied", "002 art. 5(五)2: land-use and spatial planning documents"),
    _item("A4", "002 art. 4(一)4", "base",
          "符合生态环境保护和安全生产等要求，近三年未发生突发环境事件、重特大生产安全事故",
          "Meets environmental and production-safety requirements; no sudden environmental incident and no "
          "serious or extraordinarily serious production-safety accident in the last three years",
          "statements of the ecology-environment and emergency-management authorities"),
    # 002 art. 4(二)3, first half: the plan (the share and its rise are C3)
    _item("A5", "002 art. 4(二)3", "industry", "制定了高新技术产业发展规划",
          "A high-tech industry development plan has been formulated",
          "002 art. 5(三): the development plan, including the high-tech industry development plan"),
    # 002 art. 4(三): the innovation system beyond C4–C7
    _item("A6", "002 art. 4(三)3", "innovation", "拥有一批高层次科技创新人才，具有承担国家、自治区科研项目的能力",
          "High-level S&T talent and the capacity to undertake national and regional research projects",
          "lists of talent and of national/regional projects undertaken"),
    _item("A7", "002 art. 4(三)4", "innovation",
          "建有科技企业孵化器、众创空间等创新创业孵化载体和服务科技创新的投融资机构",
          "Incubators, maker spaces and other incubation carriers, and investment institutions serving innovation",
          "002 art. 5(五)4: lists of incubation carriers and S&T service institutions"),
    _item("A8", "002 art. 4(三)5", "innovation", "建有科技成果管理和服务体系",
          "An S&T achievements management and service system",
          "description of the system (the patents-per-10,000 part of the same article is C7)"),
    _item("A9", "002 art. 4(三)6", "innovation",
          "与科研机构、高等院校建有长期的科技合作关系，对外科技合作和产学研合作活跃",
          "Long-term cooperation with research institutes and universities; active external and "
          "industry–university–research cooperation", "cooperation agreements and projects"),
    # 002 art. 4(四): safeguards
    _item("A10", "002 art. 4(四)1", "safeguards",
          "盟行政公署、市人民政府将高新区建设纳入当地国民经济和社会发展规划，承担建设主体责任，形成政府牵头负责、"
          "部门相互配合的工作机制，出台支持高新区创新发展的政策措施",
          "The league government puts the zone in its development plan, takes responsibility for it, has a "
          "government-led multi-department working mechanism and policies supporting it",
          "002 art. 5(五)3: the league's policy documents"),
    _item("A11", "002 art. 4(四)2", "safeguards",
          "园区管理机构健全，设置科学精简高效，管理职能明确，拥有高素质、专业化的管理队伍",
          "A sound, lean and efficient management body with clear functions and a professional team",
          "002 art. 5(四): the implementation plan's management system and operating mechanism"),
    _item("A12", "002 art. 4(四)3", "safeguards",
          "盟行政公署、市人民政府将相应的管理权限下放高新区（内政发〔2021〕13号），“放管服”工作到位",
          "The league has delegated the corresponding management powers to the zone (内政发〔2021〕13号); "
          "放管服 reform in place", "the league's delegation documents"),
)
