"""Chinese name pools and organization templates for the demo region.

Everything here is invented: the city is modelled on the seeds' Ya'an (雅安) but named 雅川市, and
every place, company and team name is drawn from these pools. No real person is named anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridweave.models import OrganizationKind as K

# the pools and tables below are kept compact on purpose
# fmt: off

CITY = "雅川市"
CITY_BASE = "雅川"
CITY_REGION_CODE = "511800"

DISTRICTS = (
    "青衣区", "蒙顶区", "羌江区", "金凤区", "周公区", "碧峰区", "龙门区", "宝兴区",
    "荥河区", "天台区", "二郎区", "夹金区",
)

# street / township names are two syllables, one from each pool (sampled without repeats)
PLACE_FIRST = "东西南北青金龙凤桂竹松柏云石沙草花合望晏多对大小上中下新老白黄红"
PLACE_SECOND = "城江山桥坝坪湾塘口门林园溪岗营场岩关河滩湖"

COMMUNITY_WORDS = (
    "和平", "幸福", "兴隆", "文庙", "育才", "紫薇", "滨江", "春风", "新华", "光明",
    "团结", "建设", "民主", "胜利", "花园", "桃园", "柳岸", "长春", "金鸡", "朝阳",
    "学府", "廊桥", "振兴", "安康", "和谐", "东风", "红星", "丰收", "五一", "永兴",
    "南桥", "北郊", "苍坪", "大北街", "西城", "东大街", "熊猫", "茶马", "雨城", "碧水",
    "青龙", "白马", "金鱼", "太平", "万福", "福星", "吉祥", "瑞丰", "康宁", "顺河",
)

COURTYARD_WORDS = (
    "锦绣", "翠苑", "金桂", "雅居", "康乐", "阳光", "怡馨", "书香", "丽景", "御景",
    "蓝湾", "紫荆", "香榭", "清风", "明月", "玉泉", "碧桂", "望江", "鑫苑", "华府",
    "盛世", "龙湖", "桂湖", "水岸", "锦城", "安居", "康居", "电力", "粮站", "教师",
    "机关", "供销", "水电", "林业", "交通", "邮电", "银杏", "芙蓉", "海棠", "百合",
)
COURTYARD_SUFFIXES = ("小区", "苑", "院落", "花园", "家园", "公寓", "宿舍")

ROADS = (
    "人民路", "建设路", "文化路", "新华街", "解放路", "沿江路", "育才路", "康藏路",
    "雅州大道", "姚桥街", "少年宫路", "青衣江路", "朝阳街", "东大街", "西大街", "仁义巷",
)

BRAND_WORDS = (
    "华兴", "蜀茂", "雅茶", "鑫达", "恒通", "福源", "康泰", "瑞祥", "宏远", "嘉和",
    "天府", "川盛", "锦江", "云帆", "青禾", "德润", "安泰", "汇丰", "利民", "众诚",
    "和美", "同心", "益友", "晨曦", "暖阳", "启明", "善行", "春晖", "雅善", "蓝天",
)
PRODUCTS = ("茶叶", "猕猴桃", "竹笋", "生猪", "黄果柑", "中药材", "花椒", "食用菌", "蜂蜜", "雅鱼")
SCHOOLS = ("小学", "实验小学", "中心小学", "第二小学")
ART_TEAMS = ("舞蹈队", "腰鼓队", "太极拳队", "合唱团", "川剧票友会", "坝坝舞队")

# fmt: on


@dataclass(frozen=True, slots=True)
class OrgTemplate:
    """One kind of organization an area of some level may have.

    ``pattern`` keys: area, base (area name without its suffix), city, city_base, district,
    word (brand), product, school, art. ``credit`` is the two-character registration type of a
    unified social credit code (None: the organization has none). ``reach`` is the share of the
    community's grids it serves in essential categories. ``branch`` is the chance that the
    organization has a party branch of its own (co-resident units).
    """

    pattern: str
    kind: K
    categories: tuple[str, ...]
    chance: float = 1.0
    credit: str | None = None
    where: str = "any"  # "any", "urban" or "rural"
    count: tuple[int, int] = (1, 1)
    reach: tuple[float, float] = (0.3, 0.8)
    branch: float = 0.0


T = OrgTemplate

# fmt: off

CITY_TEMPLATES = (
    T("{city}民政局", K.GOVERNMENT_DEPARTMENT, (), credit="11"),
    T("{city}财政局", K.GOVERNMENT_DEPARTMENT, (), credit="11"),
    T("{city}审计局", K.GOVERNMENT_DEPARTMENT, (), credit="11"),
    T("{city}人力资源和社会保障局", K.GOVERNMENT_DEPARTMENT, ("employment",), credit="11"),
    T("{city}卫生健康委员会", K.GOVERNMENT_DEPARTMENT, (), credit="11"),
    T("{city}应急管理局", K.GOVERNMENT_DEPARTMENT, ("reconstruction",), credit="11"),
    T("{city}总工会", K.MASS_ORGANIZATION, ("employment",), credit="81"),
    T("共青团{city}委员会", K.MASS_ORGANIZATION, ("child_care", "volunteering"), credit="13"),
    T("{city}妇女联合会", K.MASS_ORGANIZATION, ("child_care", "humanistic_care"), credit="13"),
    T("{city}残疾人联合会", K.MASS_ORGANIZATION, ("disability_support",), credit="13"),
    T("{city}群团组织社会服务中心", K.MASS_ORGANIZATION, ("humanistic_care",), credit="12"),
    T("{city}党群服务中心", K.SERVICE_CENTER, ("community_governance",), credit="12"),
    T("{city}社会组织孵化服务中心", K.SERVICE_CENTER, ("community_governance",), credit="12"),
    T("{city}慈善总会", K.SOCIAL_ORGANIZATION, ("hardship_relief", "reconstruction"), credit="51"),
    T("{city}{word}公益基金会", K.SOCIAL_ORGANIZATION, ("hardship_relief", "child_care"),
      credit="53", count=(1, 2)),
    T("{city}志愿者协会", K.SOCIAL_ORGANIZATION, ("volunteering",), credit="51"),
    T("{city}社会工作协会", K.SOCIAL_ORGANIZATION, ("community_governance",), credit="51"),
    T("{city}{word}社会工作服务中心", K.SOCIAL_ORGANIZATION,
      ("hardship_relief", "humanistic_care", "reconstruction"), credit="52", count=(2, 3)),
    T("{city}蓝天救援队", K.VOLUNTEER_TEAM, ("reconstruction", "safety_mediation")),
    T("国网{city}供电公司", K.CO_RESIDENT_UNIT, ("reconstruction",), credit="91", branch=1.0),
    T("中国移动通信集团四川有限公司{city}分公司", K.CO_RESIDENT_UNIT, (), credit="91", branch=0.8),
    T("{city}人民医院", K.CO_RESIDENT_UNIT, ("health",), credit="12", branch=1.0),
    T("{city}职业技术学院", K.CO_RESIDENT_UNIT, ("employment",), credit="12", branch=1.0),
    T("{city}餐饮行业协会", K.SELF_GOVERNANCE_ORGANIZATION, ("employment",), credit="51"),
    T("{city}物业管理协会", K.SELF_GOVERNANCE_ORGANIZATION, ("community_governance",), credit="51"),
)

DISTRICT_TEMPLATES = (
    T("{area}民政局", K.GOVERNMENT_DEPARTMENT, (), credit="11"),
    T("{area}财政局", K.GOVERNMENT_DEPARTMENT, (), credit="11"),
    T("{area}人力资源和社会保障局", K.GOVERNMENT_DEPARTMENT, ("employment",), credit="11"),
    T("{area}审计局", K.GOVERNMENT_DEPARTMENT, (), chance=0.5, credit="11"),
    T("{area}总工会", K.MASS_ORGANIZATION, ("employment",), credit="81"),
    T("共青团{area}委员会", K.MASS_ORGANIZATION, ("child_care",), credit="13"),
    T("{area}妇女联合会", K.MASS_ORGANIZATION, ("child_care", "humanistic_care"), credit="13"),
    T("{area}党群服务中心", K.SERVICE_CENTER, ("community_governance",), credit="12"),
    T("{area}人民医院", K.CO_RESIDENT_UNIT, ("health",), credit="12", branch=1.0),
    T("{area}中医医院", K.CO_RESIDENT_UNIT, ("health", "elderly_care"), chance=0.6, credit="12",
      branch=1.0),
    T("国网{city_base}{base}供电分公司", K.CO_RESIDENT_UNIT, ("reconstruction",), credit="91",
      branch=1.0),
    T("{area}{word}中学", K.CO_RESIDENT_UNIT, ("child_care", "culture_sports"), credit="12",
      count=(1, 2), branch=1.0),
    T("{area}{word}社会工作服务中心", K.SOCIAL_ORGANIZATION,
      ("hardship_relief", "disability_support", "humanistic_care"), credit="52", count=(1, 3)),
    T("{area}老年协会", K.SOCIAL_ORGANIZATION, ("elderly_care", "culture_sports"), credit="51"),
    T("{area}{word}养老服务中心", K.SOCIAL_ORGANIZATION, ("elderly_care", "health"), chance=0.7,
      credit="52"),
    T("{area}个体劳动者协会", K.SELF_GOVERNANCE_ORGANIZATION, ("employment",), chance=0.5,
      credit="51"),
    T("{area}{product}产业协会", K.SELF_GOVERNANCE_ORGANIZATION, ("employment",), chance=0.5,
      credit="51"),
)

STREET_TEMPLATES = (
    T("{area}办事处", K.GOVERNMENT_DEPARTMENT, (), credit="11", where="urban"),
    T("{area}人民政府", K.GOVERNMENT_DEPARTMENT, (), credit="11", where="rural"),
    T("{area}党群服务中心", K.SERVICE_CENTER, ("community_governance", "humanistic_care"),
      credit="12"),
    T("{area}社会工作服务站", K.SERVICE_CENTER,
      ("hardship_relief", "disability_support", "child_care"), chance=0.7),
    T("{city}公安局{base}派出所", K.CO_RESIDENT_UNIT, ("safety_mediation",), credit="11",
      branch=1.0),
    T("{area}社区卫生服务中心", K.CO_RESIDENT_UNIT, ("health", "elderly_care"), credit="12",
      where="urban", branch=0.8),
    T("{area}卫生院", K.CO_RESIDENT_UNIT, ("health", "elderly_care"), credit="12", where="rural",
      branch=0.8),
    T("{base}{school}", K.CO_RESIDENT_UNIT, ("child_care", "culture_sports"), credit="12",
      branch=0.6),
    T("{base}中学", K.CO_RESIDENT_UNIT, ("child_care",), chance=0.5, credit="12", branch=0.8),
    T("中国建设银行{city_base}{base}支行", K.CO_RESIDENT_UNIT, (), chance=0.4, credit="91",
      where="urban", branch=0.5),
    T("中国农业银行{city_base}{base}支行", K.CO_RESIDENT_UNIT, (), chance=0.5, credit="91",
      where="rural", branch=0.5),
    T("国网{city_base}供电公司{base}供电所", K.CO_RESIDENT_UNIT, ("reconstruction",), chance=0.5,
      credit="91", branch=0.7),
    T("{city_base}{base}{word}社会工作服务中心", K.SOCIAL_ORGANIZATION,
      ("hardship_relief", "child_care", "disability_support", "humanistic_care"), chance=0.8,
      credit="52"),
    T("{city_base}{word}居家养老服务中心", K.SOCIAL_ORGANIZATION, ("elderly_care", "health"),
      chance=0.5, credit="52"),
    T("{city_base}{base}青少年成长服务中心", K.SOCIAL_ORGANIZATION,
      ("child_care", "culture_sports"), chance=0.3, credit="52"),
    T("{city_base}{word}心理咨询服务中心", K.SOCIAL_ORGANIZATION, ("humanistic_care", "health"),
      chance=0.2, credit="52"),
    T("{area}法律援助志愿服务队", K.VOLUNTEER_TEAM, ("legal_aid",), chance=0.4),
    T("{area}总工会", K.MASS_ORGANIZATION, ("employment",), chance=0.4, credit="81"),
    T("{area}妇女联合会", K.MASS_ORGANIZATION, ("child_care", "humanistic_care"), chance=0.6),
    T("{area}商会", K.SELF_GOVERNANCE_ORGANIZATION, ("employment",), chance=0.4, credit="51",
      where="urban"),
    T("{base}{product}专业合作社联合社", K.ECONOMIC_ORGANIZATION, ("employment",), chance=0.4,
      credit="93", where="rural"),
)

COMMUNITY_TEMPLATES = (
    T("{area}居民委员会", K.SELF_GOVERNANCE_ORGANIZATION,
      ("community_governance", "hardship_relief", "sanitation"), where="urban", reach=(0.8, 1.0)),
    T("{area}村民委员会", K.SELF_GOVERNANCE_ORGANIZATION,
      ("community_governance", "hardship_relief", "sanitation"), where="rural", reach=(0.8, 1.0)),
    T("{area}党群服务站", K.SERVICE_CENTER, ("community_governance", "elderly_care"),
      reach=(0.5, 1.0)),
    T("{area}人民调解委员会", K.SELF_GOVERNANCE_ORGANIZATION, ("safety_mediation", "legal_aid"),
      chance=0.6),
    T("{area}居务监督委员会", K.SELF_GOVERNANCE_ORGANIZATION, ("community_governance",),
      chance=0.5, where="urban"),
    T("{area}村务监督委员会", K.SELF_GOVERNANCE_ORGANIZATION, ("community_governance",),
      chance=0.6, where="rural"),
    T("{area}自建委员会", K.SELF_GOVERNANCE_ORGANIZATION,
      ("reconstruction", "community_governance"), chance=0.3, where="rural"),
    T("{area}志愿服务队", K.VOLUNTEER_TEAM, ("volunteering", "elderly_care", "sanitation"),
      chance=0.85),
    T("{area}巾帼志愿服务队", K.VOLUNTEER_TEAM, ("child_care", "humanistic_care"), chance=0.5),
    T("{area}党员先锋志愿服务队", K.VOLUNTEER_TEAM, ("safety_mediation", "sanitation"),
      chance=0.4, where="urban"),
    T("{area}留守儿童关爱服务队", K.VOLUNTEER_TEAM, ("child_care",), chance=0.45, where="rural"),
    T("{area}助残志愿服务队", K.VOLUNTEER_TEAM, ("disability_support",), chance=0.3),
    T("{area}平安巡逻队", K.VOLUNTEER_TEAM, ("safety_mediation",), chance=0.4),
    T("{area}日间照料中心", K.SOCIAL_ORGANIZATION, ("elderly_care", "health"), chance=0.5,
      credit="52", where="urban"),
    T("{area}互助养老点", K.SOCIAL_ORGANIZATION, ("elderly_care",), chance=0.4, where="rural"),
    T("{area}老年协会", K.SOCIAL_ORGANIZATION, ("elderly_care", "culture_sports"), chance=0.5),
    T("{area}书画协会", K.SOCIAL_ORGANIZATION, ("culture_sports",), chance=0.25, where="urban"),
    T("{area}{art}", K.SOCIAL_ORGANIZATION, ("culture_sports",), chance=0.45),
    T("{area}四点半课堂", K.SOCIAL_ORGANIZATION, ("child_care",), chance=0.4, where="urban"),
    T("{area}残疾人协会", K.SOCIAL_ORGANIZATION, ("disability_support",), chance=0.25),
    T("{area}邻里互助会", K.SOCIAL_ORGANIZATION, ("elderly_care", "hardship_relief"), chance=0.35),
    T("{area}妇女联合会", K.MASS_ORGANIZATION, ("child_care", "humanistic_care"), chance=0.45),
    T("共青团{area}支部委员会", K.MASS_ORGANIZATION, ("child_care", "volunteering"), chance=0.25),
    T("{area}自强互助合作社", K.ECONOMIC_ORGANIZATION, ("employment", "hardship_relief"),
      chance=0.25, credit="93"),
    T("{area}股份经济合作社", K.ECONOMIC_ORGANIZATION, ("employment",), chance=0.6, credit="N2",
      where="rural"),
    T("{area}{product}专业合作社", K.ECONOMIC_ORGANIZATION, ("employment",), chance=0.8,
      credit="93", where="rural", count=(1, 2)),
    T("{base}幼儿园", K.CO_RESIDENT_UNIT, ("child_care",), chance=0.4, credit="12", branch=0.3),
    T("{area}卫生服务站", K.CO_RESIDENT_UNIT, ("health", "elderly_care"), chance=0.5,
      credit="12", where="urban", branch=0.3),
    T("{area}卫生室", K.CO_RESIDENT_UNIT, ("health",), chance=0.7, where="rural"),
    T("{word}大药房{base}店", K.CO_RESIDENT_UNIT, ("health",), chance=0.35, credit="91",
      where="urban"),
    T("{city_base}{word}物业服务有限公司", K.CO_RESIDENT_UNIT, ("sanitation", "safety_mediation"),
      chance=0.6, credit="91", where="urban", branch=0.4),
    T("{city_base}{word}实业有限公司", K.CO_RESIDENT_UNIT, ("employment",), chance=0.4,
      credit="91", branch=0.5),
    T("{city_base}{word}农业开发有限公司", K.CO_RESIDENT_UNIT, ("employment",), chance=0.3,
      credit="91", where="rural", branch=0.3),
    T("{word}超市{base}店", K.CO_RESIDENT_UNIT, (), chance=0.4, credit="91", where="urban"),
    T("中国邮政储蓄银行{city_base}{base}营业所", K.CO_RESIDENT_UNIT, (), chance=0.15, credit="91"),
)

COURTYARD_TEMPLATES = (
    T("{area}院落议事会", K.SELF_GOVERNANCE_ORGANIZATION, ("community_governance",), chance=0.6),
    T("{area}业主委员会", K.SELF_GOVERNANCE_ORGANIZATION, ("community_governance", "sanitation"),
      chance=0.35),
    T("{area}自改委", K.SELF_GOVERNANCE_ORGANIZATION, ("community_governance", "reconstruction"),
      chance=0.1),
    T("{area}邻里互助志愿队", K.VOLUNTEER_TEAM, ("elderly_care", "volunteering"), chance=0.25),
)

# the featured community (the first of the 13) always has a registered social work centre, first
FEATURED_SOCIAL = T(
    "{city_base}{base}{word}社会工作服务中心",
    K.SOCIAL_ORGANIZATION,
    ("hardship_relief", "elderly_care", "child_care", "humanistic_care", "volunteering"),
    credit="52",
    reach=(0.6, 1.0),
)

# the fallback that makes sure every community has a social organization of its own
COMMUNITY_SOCIAL_FALLBACK = T("{area}邻里互助会", K.SOCIAL_ORGANIZATION,
                              ("elderly_care", "hardship_relief"))

# categories of the party organizations at each level (the area they serve: see orgs.py)
PARTY_STREET = ("community_governance",)
PARTY_COMMUNITY = ("community_governance", "humanistic_care")
PARTY_BRANCH = ("community_governance", "safety_mediation", "volunteering")
PARTY_GROUP: tuple[str, ...] = ()
# fmt: on
